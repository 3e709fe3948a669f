"""Every shipped panel protocol recovers the truth of a study simulated with all panels.

One study (3 donors x 8000 events, every panel of :data:`msclab.simulate.panels.PANELS`)
is gated once per session through :func:`quantify_panel`. Thresholds come from
the simulated FMO / unstimulated controls through the samplesheet, never from
truth.json; truth is only compared with at the end.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import msclab
from msclab.flow.panel import PanelResult, quantify_panel
from msclab.flow.protocols.loader import builtin_protocols
from msclab.simulate import StudyDesign, simulate_study
from msclab.simulate.panels import PANELS

from .conftest import compare_with_truth, reported_pct

#: Built-in protocols that are not a panel: pre-gating pieces, and the mouse protocol (tested on real data).
_NOT_PANELS = {"pregate", "msc_carryover", "mouse_lineage"}


@pytest.fixture(scope="module")
def all_panels_study(tmp_path_factory) -> tuple[Path, dict]:
    """3 donors x 8000 events, seed 1, every panel: (folder, truth)."""
    out = tmp_path_factory.mktemp("all_panels")
    truth = simulate_study(out, StudyDesign(donors=3, events=8000, seed=1, panels=tuple(PANELS)))
    return out, truth


@pytest.fixture(scope="module")
def all_results(all_panels_study) -> dict[str, PanelResult]:
    """Panel name -> its quantification with the shipped protocol."""
    folder, _ = all_panels_study
    experiment = msclab.read_experiment(folder / "experiment.yaml")
    return {panel: quantify_panel(experiment, panel) for panel in PANELS}


def test_every_shipped_panel_protocol_is_simulated():
    shipped = set(builtin_protocols()) - _NOT_PANELS
    assert shipped == set(PANELS)


@pytest.mark.parametrize("panel", list(PANELS))
def test_frequencies_match_truth(all_results, all_panels_study, panel):
    _, truth = all_panels_study
    result = all_results[panel]
    assert result.failures == {}
    names = set(result.populations["name"])
    missing = {n for sample in truth["samples"].values() for n in sample["populations"].get(panel, {})} - names
    assert not missing, f"truth populations {missing} are not populations of the {panel} protocol"
    compared, worst = compare_with_truth(result, truth, panel)
    assert compared >= 20
    assert worst < 1.0


def test_thresholds_come_from_the_simulated_controls(all_results):
    for panel, result in all_results.items():
        controls = PANELS[panel].controls
        sample = next(iter(result.gates.values()))
        records = []
        for gate in sample.values():
            resolved = gate.get("resolved", {})
            records += [resolved.get("x", {}), resolved.get("y", {})] if "x" in resolved else [resolved]
        assert not any("fell back" in str(r.get("note", "")) for r in records), panel
        from_controls = {r["control_type"] for r in records if r.get("method") == "control"}
        assert from_controls == set(controls.values()), panel


def test_planted_effects_keep_their_direction(all_results, all_panels_study):
    _, truth = all_panels_study
    records = pd.concat([r.records for r in all_results.values()])
    catalogue = records[records["catalogue_id"] != ""]
    checked = set()
    for effect, direction in truth["effects"].items():
        rows = catalogue[catalogue["catalogue_id"] == effect]
        if rows.empty or direction == "none":
            continue
        by_sample = rows.set_index("sample_id")["value"]
        diffs = [by_sample[f"D{d}_msc10"] - by_sample[f"D{d}_pbmc"] for d in (1, 2, 3)]
        assert np.sign(np.mean(diffs)) == (1 if direction == "up" else -1), f"{effect}: {diffs}"
        checked.add(effect)
    assert checked == {
        "th1_frequency", "th17_frequency", "treg_frequency", "t_prolif_cd4", "t_prolif_cd8", "tfh_frequency",
        "b_transitional", "nk_cytotoxicity", "nk_ifng", "cd8_ctl_cytotoxicity", "dc_maturation_markers",
        "cd1c_tolerogenic_dc", "m1_macrophage", "m2_macrophage",
    }


def test_msc_identity_recovers_the_isct_fractions(all_results, all_panels_study):
    _, truth = all_panels_study
    reported = reported_pct(all_results["msc_identity"]).loc["MSC1"]
    assert reported["CD73+CD90+CD105+"] >= 95
    for marker in ("CD45", "CD34", "CD14", "CD19", "HLA-DR"):
        assert reported[f"{marker}+"] <= 2, marker
    for name, true in truth["samples"]["MSC1"]["populations"]["msc_identity"].items():
        assert reported[name] == pytest.approx(100 * true["observed"], abs=1.0), name


def test_manifest_names_every_control_the_protocols_need(all_panels_study):
    folder, _ = all_panels_study
    experiment = msclab.read_experiment(folder / "experiment.yaml")
    sheet = experiment.samplesheet
    for name, panel in PANELS.items():
        assert experiment.spec.panels[name].controls == panel.controls
        rows = sheet[sheet["panel"] == name]
        for marker, kind in panel.controls.items():
            mine = rows[rows["control_type"] == kind]
            if kind == "fmo":
                mine = mine[mine["control_for"] == marker]
            assert mine["donor"].nunique() == rows["donor"].nunique(), (name, marker)
    truth = json.loads((folder / "truth.json").read_text())
    assert truth["design"]["panels"] == list(PANELS)
