"""The second study generator writes what it claims: other naming, valid files, consistent truth."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import msclab
from msclab.io import open_fcs
from msclab.experiment import validate_experiment
from msclab.simulate.cytometer import ALL_DETECTORS
from msclab.simulate.panels import PANELS as SIM_PANELS

_spec = importlib.util.spec_from_file_location("otherlab", Path(__file__).parent / "otherlab.py")
otherlab = sys.modules.setdefault("otherlab", importlib.util.module_from_spec(_spec))
if not hasattr(otherlab, "write_study"):
    _spec.loader.exec_module(otherlab)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[Path, dict, float]:
    folder = tmp_path_factory.mktemp("otherlab")
    start = time.process_time()
    truth = otherlab.write_study(folder, otherlab.OtherLabDesign(donors=6, seed=3))
    return folder, truth, time.process_time() - start


def test_shares_no_naming_with_msclab_simulate(study) -> None:
    folder, _, _ = study
    exp = msclab.read_experiment(folder / "experiment.yaml")
    detectors = {d for p in exp.spec.panels.values() for d in p.markers}
    markers = {m for p in exp.spec.panels.values() for m in p.markers.values()}
    sim_markers = {m for p in SIM_PANELS.values() for m in p.stains}
    assert not detectors & set(ALL_DETECTORS.values())
    assert {"Foxp3", "IFN-gamma", "IL17A", "Live/Dead", "CTV"} <= markers
    assert not {"Foxp3", "IFN-gamma", "IL17A", "Live/Dead", "CTV"} & sim_markers
    sample_ids = set(exp.samplesheet["sample_id"])
    assert "HD01-FMO-Foxp3" in sample_ids and not any(s.startswith("D1_") for s in sample_ids)


def test_samplesheet_is_semicolon_with_bom_and_validates(study) -> None:
    folder, _, _ = study
    raw = (folder / "Sample sheet.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.split(b"\r\n", 1)[0].count(b";") == len(otherlab._COLUMNS) - 1
    assert validate_experiment(folder / "experiment.yaml") == []


def test_fcs_carry_diva_style_pns_and_spill(study) -> None:
    folder, _, _ = study
    fcs = open_fcs(next((folder / "FCS").glob("*_Treg.fcs")))
    assert {"CD25 PE", "Foxp3 AF647", "FVS780"} <= set(fcs.var["pns"])
    assert {"BV421-A", "PE-Cy7-A", "APC-R700-A", "APC-H7-A"} <= set(fcs.var.index)
    matrix, keyword = fcs.spillover
    assert keyword == "SPILL" and matrix.loc["APC-A", "APC-R700-A"] == pytest.approx(0.15)


def test_truth_matches_planted_design(study) -> None:
    _, truth, _ = study
    table = otherlab.population_table(truth)
    stim = table[(table["control_type"] == "") & table["sample_id"].str.endswith("-S")]
    by_pop = stim.groupby("population")["percent"].mean()
    # Realised percentages sit near the planted baselines (of their parents).
    assert 4 < by_pop["Treg"] < 10
    assert 2 < by_pop["Transitional B"] < 9
    assert 1 < by_pop["Plasmablasts"] < 9
    assert 6 < by_pop["CD56bright"] < 16
    unstim = table[table["sample_id"].str.endswith("-U") & (table["population"] == "Plasmablasts")]
    assert (unstim["percent"] < 3).all() and (unstim["percent"] > 0.5).all()
    # Planted effects: MSC 1:5 moves each population in the planted direction in every donor.
    for pop, effect in (("Th1", "th1_frequency"), ("Treg", "treg_frequency"),
                        ("Plasmablasts", "plasmablast_frequency")):
        wide = table[table["population"] == pop].set_index("sample_id")["percent"]
        for donor, log2 in truth["effects"][effect]["per_donor"].items():
            change = np.log2(wide[f"{donor}-SM5"] / wide[f"{donor}-S"])
            assert abs(change - log2) < 0.6, (pop, donor, change, log2)


def test_optional_markers_and_speed(study, tmp_path: Path) -> None:
    _, _, seconds = study
    assert seconds < 20
    otherlab.write_study(tmp_path, otherlab.OtherLabDesign(donors=2, events=3000, dye=False, cd8=False,
                                                          cd45=False, panels=("Treg", "Th")))
    exp = msclab.read_experiment(tmp_path / "experiment.yaml")
    markers = {m for p in exp.spec.panels.values() for m in p.markers.values()}
    assert not markers & {"CTV", "CD8", "CD45"}
    assert validate_experiment(tmp_path / "experiment.yaml") == []
