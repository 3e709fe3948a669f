"""The simulator writes valid, deterministic FCS files whose content matches truth.json."""

from __future__ import annotations

import hashlib
import json
import math

import flowkit as fk
import numpy as np
import pandas as pd
import pytest

from msclab.io.layout import read_layout
from msclab.simulate import StudyDesign, simulate_study
from msclab.simulate.cytometer import spillover_matrix
from msclab.simulate.effects import DEFAULT_EFFECTS, ratio_weight



def _hashes(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(small_study, small_design, tmp_path):
    folder, _ = small_study
    simulate_study(tmp_path, small_design)
    assert _hashes(folder) == _hashes(tmp_path)


def test_another_seed_gives_other_events(small_study, tmp_path):
    folder, _ = small_study
    simulate_study(tmp_path, StudyDesign(donors=2, events=3000, seed=2))
    assert (folder / "fcs/D1_pbmc_treg.fcs").read_bytes() != (tmp_path / "fcs/D1_pbmc_treg.fcs").read_bytes()


def test_flowkit_reads_every_file_with_the_planted_counts(small_study, small_design):
    folder, truth = small_study
    assert len(truth["files"]) == 2 * (4 * 2 + 1)
    for name, info in truth["files"].items():
        sample = fk.Sample(folder / name)
        assert sample.event_count == small_design.events == info["events"]
        assert len(sample.pnn_labels) == info["channels"]
        assert sample.version == "3.1"


def test_spillover_keyword_is_the_instrument_matrix(small_study):
    folder, _ = small_study
    sample = fk.Sample(folder / "fcs/D1_pbmc_treg.fcs")
    spill = sample.metadata["spillover"].split(",")
    n = int(spill[0])
    detectors = spill[1:n + 1]
    matrix = np.array(spill[n + 1:], dtype=float).reshape(n, n)
    expected = spillover_matrix()
    assert detectors == list(expected.columns)
    np.testing.assert_allclose(matrix, expected.to_numpy(), rtol=1e-6)
    # The stated markers are written as $PnS.
    assert sample.pns_labels[sample.pnn_labels.index("R670-A")] == "FoxP3"


def test_foxp3_fraction_among_cd4_matches_truth(small_study):
    folder, truth = small_study
    for sample_id in ("D1_pbmc", "D1_msc10", "D2_unstim"):
        labels = pd.read_parquet(folder / f"labels/{sample_id}_treg.parquet")
        cd4 = labels["cell_type"] == "cd4"
        foxp3 = cd4 & labels["state"].isin(["treg", "foxp3_activated"])
        fraction = foxp3.sum() / cd4.sum()
        recorded = truth["samples"][sample_id]["populations"]["treg"]["CD25+FoxP3+"]
        assert fraction == pytest.approx(recorded["observed"], abs=1e-6)
        # Independent check: the realised fraction is a binomial draw around the planted one.
        p, n = recorded["planted"], cd4.sum()
        assert abs(fraction - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_fmo_tube_lacks_the_foxp3_stain(small_study):
    folder, _ = small_study
    full = fk.Sample(folder / "fcs/D1_pbmc_treg.fcs").get_events("raw")
    fmo = fk.Sample(folder / "fcs/D1_fmo_foxp3_treg.fcs").get_events("raw")
    col = 4 + 6  # scatter (4) + APC detector (R670-A, 7th fluorescence detector)
    assert np.percentile(fmo[:, col], 99) < 0.3 * np.percentile(full[:, col], 99.5)


def test_planted_effects_follow_the_catalogue_and_can_be_overridden(small_study, tmp_path):
    _, truth = small_study
    assert truth["effects"]["treg_frequency"] == "up"
    assert truth["effects"]["th17_frequency"] == "down"
    assert truth["effects"]["th2_frequency"] == "none"  # conflicting in the literature: planted symmetric
    assert truth["effects"]["t_prolif_cd4"] == "down"
    against = simulate_study(tmp_path / "a", StudyDesign(donors=1, events=600, effects={"treg_frequency": "down"}))
    assert against["effects"]["treg_frequency"] == "down"
    null = simulate_study(tmp_path / "n", StudyDesign(donors=1, events=600, null=True))
    assert set(null["effects"].values()) == {"none"}


def test_msc_changes_planted_fractions_by_the_catalogue_magnitude(tmp_path):
    truth = simulate_study(tmp_path, StudyDesign(donors=6, events=600, seed=3))
    ratios = []
    for d in range(1, 7):
        comp = {c: truth["samples"][f"D{d}_{c}"]["composition"] for c in ("pbmc", "msc10")}
        ratios.append(math.log2(comp["msc10"]["treg"] / comp["pbmc"]["treg"]))
    # Mean log2 change over donors is the planted size (log2 1.3) within noise (donor SD 0.15, culture SD 0.05).
    assert np.mean(ratios) == pytest.approx(DEFAULT_EFFECTS["treg_frequency"].size, abs=3 * 0.16 / math.sqrt(6) + 0.05)


def test_ratio_weight_is_monotonic_and_halves_at_1_to_50():
    assert ratio_weight(None) == 0
    assert ratio_weight(1 / 10) == 1 == ratio_weight(1 / 2)
    assert ratio_weight(1 / 50) == pytest.approx(0.5)
    assert ratio_weight(1 / 100) < ratio_weight(1 / 50) < ratio_weight(1 / 20)


def test_elisa_truth_lists_out_of_range_wells(small_study):
    folder, truth = small_study
    ifng = truth["elisa"]["IFN-g"]
    assert any(not w["in_range"] for w in ifng["wells"])  # unstimulated supernatants fall below the lowest standard
    layout = read_layout(folder / "elisa/ifng_plate1_layout.csv").wells
    assert (layout["sample_type"] == "standard").sum() == 14
    assert set(layout.loc[layout["sample_type"] == "unknown", "sample_id"]) == {
        s for s in truth["samples"] if "fmo" not in s}
    manifest = (folder / "experiment.yaml").read_text()
    assert "ifng_plate1_layout.csv" in manifest
    json.dumps(truth)  # JSON-serialisable


@pytest.mark.parametrize("seed", [0, 7, 13])
def test_many_donors_and_seeds_give_valid_compositions(tmp_path, seed):
    truth = simulate_study(tmp_path, StudyDesign(donors=12, events=500, seed=seed))
    for sample in truth["samples"].values():
        comp = sample["composition"]
        assert 0 < comp["cd4_of_t"] + comp["cd8_of_t"] < 1
        assert comp["treg"] + comp["foxp3_activated"] + comp["activated"] < 1
