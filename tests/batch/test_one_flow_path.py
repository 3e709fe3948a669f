"""``analyze`` and ``batch`` quantify every kind of panel through the same function.

A study whose Th-ICS panel is gated by a GatingML 2.0 file (the resolved gate
tree ``analyze`` exported for one sample, used as fixed gates for every file)
and whose Treg panel keeps its msclab protocol gives identical tables in
``analyze``, ``batch`` serial and ``batch --workers 2``; a panel gated by a
FlowJo workspace gives identical tables in ``analyze`` and ``batch``, with the
counts FlowJo stored.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml

from msclab.batch import run_batch
from msclab.pipeline import analyze

from .conftest import SETTINGS, assert_same_tables


@pytest.fixture
def gatingml_study(copy_study, reference):
    folder = copy_study()
    shutil.copy(reference / "gates" / "D1_pbmc_th_ics.xml", folder / "th_ics_gates.xml")
    manifest = yaml.safe_load((folder / "experiment.yaml").read_text())
    manifest["panels"]["th_ics"]["protocol"] = "th_ics_gates.xml"
    (folder / "experiment.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


def _check_fixed_panel(out, reference):
    readouts = pd.read_csv(out / "readouts.csv", index_col="sample_id")
    fixed = [c for c in readouts.columns if c.startswith("flow:th_ics:")]
    assert fixed and all(c.endswith(":pct_parent") for c in fixed)
    # The sample whose resolved tree is the strategy gets the same counts as when it was resolved.
    pops = pd.read_csv(out / "populations.csv")
    ref = pd.read_csv(reference / "populations.csv")
    mine = pops[(pops["sample_id"] == "D1_pbmc") & (pops["panel"] == "th_ics")].set_index("population")["count"]
    theirs = ref[(ref["sample_id"] == "D1_pbmc") & (ref["panel"] == "th_ics")].set_index("population")["count"]
    # One name everywhere: the exported GatingML keeps the readable names ("CD45+/T cells", not "CD45pos/T_cells").
    assert len(mine) and mine.to_dict() == theirs.to_dict()
    # The protocol panel is untouched.
    pd.testing.assert_frame_equal(pops[pops["panel"] == "treg"].reset_index(drop=True),
                                  ref[ref["panel"] == "treg"].reset_index(drop=True))


def test_gatingml_panel_is_the_same_in_analyze_and_serial_batch(gatingml_study, reference, tmp_path):
    analyze(gatingml_study / "experiment.yaml", tmp_path / "analyze", SETTINGS)
    assert pd.read_csv(tmp_path / "analyze" / "failures.csv").empty
    _check_fixed_panel(tmp_path / "analyze", reference)
    result = run_batch([gatingml_study], tmp_path / "batch", settings=SETTINGS, workers=0)
    assert result.ok, result.failures
    assert_same_tables(tmp_path / "analyze", tmp_path / "batch" / "study")
    # Each quantifier's provenance fragment is recorded the same way by both.
    steps = [json.loads((folder / "provenance.json").read_text())["steps"]
             for folder in (tmp_path / "analyze", tmp_path / "batch" / "study")]
    assert set(steps[0]["gating"]) == {"treg"} and steps[0]["gating"]["treg"]["samples"]
    for section in ("gating", "assays", "control_fallbacks", "gate_overrides", "normalisation"):
        assert steps[0].get(section) == steps[1].get(section), section


@pytest.mark.slow
def test_gatingml_panel_is_the_same_with_two_workers(gatingml_study, tmp_path):
    analyze(gatingml_study / "experiment.yaml", tmp_path / "analyze", SETTINGS)
    result = run_batch([gatingml_study], tmp_path / "batch", settings=SETTINGS, workers=2)
    assert result.ok, result.failures
    assert_same_tables(tmp_path / "analyze", tmp_path / "batch" / "study")


@pytest.mark.shared_data
def test_flowjo_panel_is_the_same_in_analyze_and_serial_batch(shared_data, tmp_path):
    """A panel whose protocol is a FlowJo workspace: ``batch`` gates it (it used to refuse the file)."""
    from msclab.flow.gating.workspace import flowjo_counts

    diamond = shared_data / "flowjo_workspaces" / "flowkit_simple_diamond"
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(diamond / "test_data_diamond_01.fcs", folder / "test_data_diamond_01.fcs")
    shutil.copy(diamond / "test_data_diamond_asinh_rect.wsp", folder / "gates.wsp")
    pd.DataFrame([{"sample_id": "s1", "file": "test_data_diamond_01.fcs", "panel": "p", "donor": "D1", "condition": "PBMC"}]).to_csv(
        folder / "samplesheet.csv", index=False)
    manifest = {"name": "FlowJo panel", "samplesheet": "samplesheet.csv",
                "panels": {"p": {"markers": {"channel_A": "A", "channel_B": "B"}, "protocol": "gates.wsp"}}}
    (folder / "experiment.yaml").write_text(yaml.safe_dump(manifest))
    assert analyze(folder / "experiment.yaml", tmp_path / "analyze", SETTINGS).failures.empty
    result = run_batch([folder], tmp_path / "batch", settings=SETTINGS, workers=0)
    assert result.ok, result.failures
    assert_same_tables(tmp_path / "analyze", tmp_path / "batch" / "study",
                       ("readouts.csv", "populations.csv", "failures.csv"))
    pops = pd.read_csv(tmp_path / "batch" / "study" / "populations.csv").set_index("population")["count"]
    truth = flowjo_counts(folder / "gates.wsp")
    truth = truth[truth["population"] != "/"].set_index("population")["count"]
    assert len(truth) and pops.reindex(truth.index).tolist() == truth.tolist()
