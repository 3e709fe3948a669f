"""Issue 13, findings 5 and 6, on the other lab's study and on hand-checkable numbers.

- Finding 5: rows with a ``control_type`` never enter contrasts unless the contrast names them
  (``analyze`` and ``validate`` alike).
- Finding 6: an empty layout cell is an unused well: not a sample, not in ``concentrations.csv``,
  not flagged.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from msclab.assay.quantification import quantify
from msclab.experiment import validate_experiment
from msclab.io.assay import read_assay
from msclab.normalise.controls import paired_effects
from msclab.readouts import build_readouts
from msclab.stats import Contrast

_spec = importlib.util.spec_from_file_location("otherlab", Path(__file__).parents[1] / "studies" / "otherlab.py")
otherlab = sys.modules.setdefault("otherlab", importlib.util.module_from_spec(_spec))
if not hasattr(otherlab, "write_study"):
    _spec.loader.exec_module(otherlab)


def _row(sample_id: str, donor: str, condition: str, ratio: str = "", **extra) -> dict:
    return {"sample_id": sample_id, "donor": donor, "condition": condition, "msc_ratio": ratio,
            "stimulus": "CD3/CD28 beads", "culture": "contact", "msc_source": "UC" if ratio else "",
            "msc_licensing": "", "timepoint": "day 5", "replicate": 1, "plate": "P1", "well": "",
            "control_type": "", "control_for": "", "status": "ok"} | extra


def test_fmo_rows_do_not_enter_the_control_mean() -> None:
    """An FMO tube of the control culture matches ``{condition: Stim}`` but is not a control culture."""
    samples = pd.DataFrame([
        _row("HD01-S", "HD01", "Stim"), _row("HD01-SM5", "HD01", "Stim+MSC", "1:5"),
        _row("HD01-FMO-Foxp3", "HD01", "Stim", control_type="fmo", control_for="Foxp3"),
    ])
    # The FMO lacks Foxp3, so its "Treg" reads near 0: averaged into the control it would fake an increase.
    records = pd.DataFrame([
        {"sample_id": s, "readout": "flow:Treg:/Treg:pct_parent", "value": v, "kind": "frequency", "unit": "%"}
        for s, v in (("HD01-S", 8.0), ("HD01-SM5", 4.0), ("HD01-FMO-Foxp3", 0.1))
    ])
    contrast = Contrast(name="MSC 1:5", treatment={"condition": "Stim+MSC"}, control={"condition": "Stim"})
    row = paired_effects(build_readouts(samples, records), contrast).iloc[0]
    assert row["control_ids"] == "HD01-S"
    assert row["effect"] == pytest.approx(-1.0)  # log2(4 / 8), not log2(4 / 4.05)


def test_a_contrast_that_names_control_type_selects_control_rows() -> None:
    samples = pd.DataFrame([
        _row("HD01-U", "HD01", "Unstim", stimulus="none", control_type="unstimulated"),
        _row("HD01-UM", "HD01", "Unstim+MSC", "1:5", stimulus="none"),
    ])
    records = pd.DataFrame([{"sample_id": s, "readout": "x", "value": v, "kind": "concentration", "unit": "pg/mL"}
                            for s, v in (("HD01-U", 10.0), ("HD01-UM", 20.0))])
    contrast = Contrast(name="u", treatment={"condition": "Unstim+MSC"},
                        control={"condition": "Unstim", "control_type": "unstimulated"})
    row = paired_effects(build_readouts(samples, records), contrast).iloc[0]
    assert row["control_ids"] == "HD01-U" and row["effect"] == pytest.approx(1.0)


def test_validate_and_analyze_select_the_same_rows(tmp_path: Path) -> None:
    """``validate`` accepts a contrast that names control rows, since ``analyze`` uses them then."""
    otherlab.write_study(tmp_path, otherlab.OtherLabDesign(donors=2, events=2000, panels=("Th",)))
    manifest = tmp_path / "experiment.yaml"
    spec = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    spec["contrasts"].append({"name": "stim vs unstim", "treatment": {"condition": "Stim"},
                              "control": {"condition": "Unstim", "control_type": "unstimulated"}})
    manifest.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    assert validate_experiment(manifest) == []


@pytest.fixture(scope="module")
def elisa(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("otherlab_elisa")
    truth = otherlab.write_study(folder, otherlab.OtherLabDesign(donors=3, events=2000, panels=("Th",)))
    return folder, truth


def test_empty_layout_wells_are_not_samples(elisa) -> None:
    folder, truth = elisa
    export = read_assay(folder / "ELISA" / "IFNg-P1.csv", format="grid", layout=folder / "ELISA" / "IFNg-P1 layout.csv")
    cultures = [s for s, v in truth["samples"].items() if "concentrations" in v]
    # 12 cultures in duplicate, 7 standards and a blank in duplicate: the other 56 wells are unused.
    assert len(export.table) == 2 * len(cultures) + 16
    unknown = export.table[export.table["sample_type"] == "unknown"]
    assert set(unknown["sample_id"]) == set(cultures)
    assert any("unused" in note for note in export.leniencies)
    result = quantify(export)
    assert not (result.wells["sample_type"].eq("unknown") & result.wells["sample_id"].fillna("").eq("")).any()
    assert "<LLOQ" not in set(result.wells.loc[result.wells["sample_id"].fillna("") == "", "flag"].astype(str))


def _th_study(folder: Path, controls: dict | None) -> Path:
    otherlab.write_study(folder, otherlab.OtherLabDesign(donors=3, events=4000, seed=2, panels=("Th",)))
    manifest = folder / "experiment.yaml"
    if controls is not None:
        spec = yaml.safe_load(manifest.read_text(encoding="utf-8"))
        spec["panels"]["Th"]["controls"] = controls
        manifest.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return manifest


def test_control_fallback_is_a_warning_and_a_flag(tmp_path: Path) -> None:
    """Issue 13 finding 3: ``controls: {}`` makes the cytokine thresholds fall back; nothing of it is silent."""
    from msclab.pipeline import Settings, analyze
    from msclab.readouts import readout_flags

    result = analyze(_th_study(tmp_path / "study", {}), tmp_path / "out", Settings(n_boot=100, plots=False))
    fallbacks = [w for w in result.warnings if "control_fallback" in w]  # skipped / low-confidence gates warn too
    assert len(fallbacks) == 1 and "panel Th" in fallbacks[0]
    flags = readout_flags(result.readouts)
    th1 = [r for r in flags.columns if r.endswith("/Th1:pct_parent")]
    assert th1 and set(flags[th1[0]].dropna()) == {"control_fallback"}
    cd4 = [r for r in flags.columns if r.endswith("/CD4:pct_parent")]
    assert set(flags[cd4[0]]) == {"ok"}  # gated without a control: not flagged
    comparison = result.comparison.table
    row = comparison[(comparison["effect_id"] == "th1_frequency") & (comparison["verdict"] != "not_measured")]
    assert len(row) and set(row["flags"]) == {"control_fallback"}
    assert "fell back" in row["reason"].iloc[0]
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Warning:" in html and "control_fallback" in html


def test_no_fallback_no_warning(tmp_path: Path) -> None:
    from msclab.pipeline import Settings, analyze
    from msclab.readouts import readout_flags

    result = analyze(_th_study(tmp_path / "study", None), tmp_path / "out", Settings(n_boot=100, plots=False))
    assert not [w for w in result.warnings if "control_fallback" in w or "fell back" in w]
    assert not (readout_flags(result.readouts) == "control_fallback").any().any()
