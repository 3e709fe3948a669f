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


# SHA-256 of the FCS files of simulate_study(tmp, StudyDesign(donors=2, events=1000, seed=3)), recorded with
# the simulator as committed before StudyDesign.panels existed (git 46077f6: sha256 of every file under fcs/).
# The default study (th_ics and treg) must stay byte-identical, so every existing seed and example_data too.
_DEFAULT_STUDY_SEED3_FCS = {
    "fcs/D1_fmo_foxp3_treg.fcs": "e32b419eb81c5d2b691a87ee58b5b44a93ff89d44c16ce0d48c072fe1035aaa6",
    "fcs/D1_msc10_th_ics.fcs": "b0034c09a8c69b0f7b20484c14171c7797e0418900345b86a020c9aa905566d3",
    "fcs/D1_msc10_treg.fcs": "c73104f451cf97fe024920c7afc56dd3370ff4f6aabc6ddeacb72dae832505d2",
    "fcs/D1_msc50_th_ics.fcs": "1f7bc68cfe27e0257641bca678edfee0558046538b8dc588792685c9f2b15039",
    "fcs/D1_msc50_treg.fcs": "06579f0b3da2692f149f4b38cb881e04873a24e54deade792956ed6c7efe5196",
    "fcs/D1_pbmc_th_ics.fcs": "0552153c44f0b8d88671216628ead6c506cdc1666941fc0d2f20c3d5fc8909f6",
    "fcs/D1_pbmc_treg.fcs": "60a1eb0efd1eeaa57d92b8dea9c1da9cdebba6dcfcb72dcca35979fddc3190e7",
    "fcs/D1_unstim_th_ics.fcs": "5b95e67665297266d05a10807afee07efa81943daa4d4b1db124201aa7e7cee2",
    "fcs/D1_unstim_treg.fcs": "6e32160d374abf2ccf548b740df0a3c564d69668a13398221eebfc7be31c749d",
    "fcs/D2_fmo_foxp3_treg.fcs": "09200ba41652240fd6bf43a6bbc96f630d8d9c44e4769d2f0d0f2f460d826911",
    "fcs/D2_msc10_th_ics.fcs": "24fc16c8b0d832b25bda800bdfb379b363bec68773dd0a92ecf6c870fbadca11",
    "fcs/D2_msc10_treg.fcs": "b194e607c0d9ca913d751d4208401507c3362743c3d5c4feeb0d475346d9f2a9",
    "fcs/D2_msc50_th_ics.fcs": "6e96c16ebbdf7a9ed62afb7e9df5660fbe99eab5ce142fcfef8004f352ac7faf",
    "fcs/D2_msc50_treg.fcs": "eb89d0b1074c6ae3207199b09cb41556435687383e8ebd9dacf5177f5ecd8e34",
    "fcs/D2_pbmc_th_ics.fcs": "0bb55a68603e5865ca670b8213f78d89185c3248dcaa1f1c064a8772623da177",
    "fcs/D2_pbmc_treg.fcs": "963ee414381c9479a81d9edffd37302e8445283449c95fbbb0009764f5a542a5",
    "fcs/D2_unstim_th_ics.fcs": "fd93003a2a87111a07b582b1a99480f853532e8599805d794e22daa5baa09da9",
    "fcs/D2_unstim_treg.fcs": "d8305dac9ab655160dedd2275e7acf397df625a7ce8dcf08d25b6a63d28c267a",
}


def test_default_design_is_byte_identical_to_before_panels_were_optional(tmp_path):
    simulate_study(tmp_path, StudyDesign(donors=2, events=1000, seed=3))
    hashes = {k: v for k, v in _hashes(tmp_path).items() if k.startswith("fcs/")}
    assert hashes == _DEFAULT_STUDY_SEED3_FCS
    assert "panels" not in json.loads((tmp_path / "truth.json").read_text())["design"]


def test_adding_panels_leaves_the_t_cell_files_and_plates_unchanged(tmp_path):
    simulate_study(tmp_path / "default", StudyDesign(donors=1, events=600, seed=4))
    truth = simulate_study(tmp_path / "more", StudyDesign(donors=1, events=600, seed=4,
                                                          panels=("th_ics", "treg", "nk", "msc_identity")))
    default = _hashes(tmp_path / "default")
    more = _hashes(tmp_path / "more")
    unchanged = [k for k in default if k.startswith(("fcs/", "elisa/"))]
    assert unchanged and all(more[k] == default[k] for k in unchanged)
    assert {"nk_cytotoxicity", "nk_ifng"} <= set(truth["effects"])
    assert "tfh_frequency" not in truth["effects"]
    assert set(truth["samples"]["MSC1"]["populations"]) == {"msc_identity"}
    assert "D1_unstim_nk.fcs" in "".join(truth["files"])


def test_dc_panel_adds_a_detector_and_its_spillover(tmp_path):
    simulate_study(tmp_path, StudyDesign(donors=1, events=600, seed=2, panels=("th_ics", "dc")))
    dc = fk.Sample(tmp_path / "fcs/D1_pbmc_dc.fcs")
    detectors = dc.metadata["spillover"].split(",")[1:11]
    assert "V610-A" in dc.pnn_labels and detectors == list(spillover_matrix(tuple(detectors)).columns)
    assert dc.pns_labels[dc.pnn_labels.index("V610-A")] == "HLA-DR"
    assert "V610-A" not in fk.Sample(tmp_path / "fcs/D1_pbmc_th_ics.fcs").pnn_labels


def test_unknown_panels_and_effects_of_absent_panels_are_refused():
    with pytest.raises(ValueError, match="unknown panels"):
        StudyDesign(panels=("th_ics", "bcells"))
    with pytest.raises(ValueError, match="only with the tfh panel"):
        simulate_study("unused", StudyDesign(effects={"tfh_frequency": "up"}))


def test_b_and_nk_panels_carry_the_small_and_adjacent_populations(tmp_path):
    """Issue 19's hard cases: plasmablasts of 1-2% (unstimulated) with larger scatter, transitional B of a
    few percent of CD27- B, and CD56dim CD16- NK cells beside the CD56bright ones."""
    truth = simulate_study(tmp_path, StudyDesign(donors=2, events=20000, seed=19, labels=True,
                                                 panels=("b_cells", "nk")))
    for sid, sample in truth["samples"].items():
        if "b_cells" not in sample["populations"]:
            continue
        b, nk = sample["populations"]["b_cells"], sample["populations"]["nk"]
        if sid.endswith("_unstim"):
            assert 0.005 < b["Plasmablasts"]["observed"] < 0.025
            assert 10 <= b["Plasmablasts"]["count"] <= 60  # tens of events, the case the mixture missed
        assert 0.02 < b["Transitional B"]["observed"] < 0.12
        # CD56dim (CD16+) and CD56bright leave room for the CD56dim CD16- cells.
        rest = 1 - nk["CD56bright"]["observed"] - nk["CD56dim"]["observed"]
        assert 0.05 < rest < 0.25
    labels = pd.read_parquet(tmp_path / "labels" / "D1_pbmc_b_cells.parquet")
    sample = fk.Sample(tmp_path / "fcs" / "D1_pbmc_b_cells.fcs")
    fsc = sample.get_events(source="raw")[:, sample.pnn_labels.index("FSC-A")]
    blasts = (labels["cell_type"] == "b") & (labels["state"] == "plasmablast")
    others = (labels["cell_type"] == "b") & (labels["state"] != "plasmablast")
    ratio = np.median(fsc[blasts.to_numpy()]) / np.median(fsc[others.to_numpy()])
    assert 1.08 < ratio < 1.25


def test_hard_samples_are_planted_in_equal_numbers_and_named_in_the_truth(tmp_path):
    """Issue 16: a share of the non-control cultures is acquired with a problem, each kind as often."""
    truth = simulate_study(tmp_path, StudyDesign(donors=2, events=2000, seed=5, hard=0.5,
                                                 panels=("th_ics", "treg", "nk")))
    problems = {k: f["problem"] for k, f in truth["files"].items() if "problem" in f}
    # 2 donors x 3 non-control cultures x 3 panels = 18 tubes; half of them, 3 kinds x 3
    assert len(problems) == 9
    assert sorted(problems.values()) == sorted(["low_events", "poor_separation", "shifted"] * 3)
    assert not any("unstim" in k or "_fmo_" in k for k in problems)
    for key, kind in problems.items():
        events = fk.Sample(tmp_path / key).event_count
        assert events == (250 if kind == "low_events" else 2000) == truth["files"][key]["events"]
    assert truth["design"]["hard"] == 0.5


def test_a_shifted_tube_has_doubled_fluorescence_and_a_weak_one_dim_antibodies():
    """The problems act on what the cytometer records, not on the cells: the truth labels are the same."""
    from msclab.simulate.cytometer import TREG, SampleComposition, draw_events
    comp = SampleComposition(msc_fraction=0.0, t_of_lymph=0.7, cd4_of_t=0.6, cd8_of_t=0.3, th1=0.1, th17=0.01,
                             th1_17=0.0, th2=0.02, tc1=0.1, treg=0.06, foxp3_activated=0.01, activated=0.1,
                             divided_cd4=0.5, divided_cd8=0.5, stimulated=True)
    draws = {p: draw_events(comp, TREG, 4000, np.random.default_rng(1), problem=p)
             for p in (None, "shifted", "poor_separation")}
    plain, shifted, weak = (draws[p][0] for p in (None, "shifted", "poor_separation"))
    channels = draws[None][1]
    fluorescence = [i for i, c in enumerate(channels) if c not in ("FSC-A", "FSC-H", "SSC-A", "SSC-H", "Time")]
    np.testing.assert_allclose(shifted[:, fluorescence], np.clip(2 * plain[:, fluorescence], -262144, 262143),
                               rtol=1e-6, atol=1e-2)
    np.testing.assert_array_equal(shifted[:, :4], plain[:, :4])
    cd4, ctv = channels.index("R780-A"), channels.index("V450-A")  # APC-Cy7 CD4 (an antibody), BV421 CellTrace
    is_cd4 = (draws[None][2]["cell_type"] == "cd4").to_numpy()
    assert np.median(weak[is_cd4, cd4]) < 0.35 * np.median(plain[is_cd4, cd4])
    assert np.median(weak[is_cd4, ctv]) == pytest.approx(np.median(plain[is_cd4, ctv]), rel=0.05)
    assert all(draws[p][2].equals(draws[None][2]) for p in draws)


def test_a_hard_share_outside_0_to_1_is_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        StudyDesign(hard=1.5)
