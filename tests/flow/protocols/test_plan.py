"""Core and optional gates: the gate plan, skipping without failing, validate's plan, gate confidence."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import msclab
from msclab.flow.panel import quantify_panel
from msclab.flow.protocols.loader import load_protocol
from msclab.flow.channels import ChannelIndex
from msclab.flow.protocols.plan import experiment_gate_plans, gate_plan
from msclab.flow.qc import GATE_QC_COLUMNS, gate_confidence, gate_qc
from msclab.provenance import Provenance

_spec = importlib.util.spec_from_file_location("otherlab", Path(__file__).parents[2] / "studies" / "otherlab.py")
otherlab = sys.modules.setdefault("otherlab", importlib.util.module_from_spec(_spec))
if not hasattr(otherlab, "write_study"):
    _spec.loader.exec_module(otherlab)

OMIP053 = ["CD45", "Viability", "CD3", "CD4", "CD8", "CD25", "CD127", "FoxP3"]


def _status(plan):
    return {g.gate: g.status for g in plan}


def test_treg_without_a_dye_skips_only_the_optional_gates():
    plan = gate_plan(load_protocol("treg"), ChannelIndex.of_panel(OMIP053).has)
    status = _status(plan)
    assert status["CD4 divided"] == status["CD8 divided"] == "skip"
    assert all(status[g] == "run" for g in ("Lymphocytes", "CD4,CD8", "CD25hi CD127lo", "FoxP3+", "Treg"))
    assert "missing" not in status.values()


def test_missing_core_marker_is_missing_and_gates_below_are_skipped():
    plan = gate_plan(load_protocol("treg"), ChannelIndex.of_panel([m for m in OMIP053 if m != "CD127"]).has)
    by_gate = {g.gate: g for g in plan}
    assert by_gate["CD25hi CD127lo"].status == "missing" and "CD127" in by_gate["CD25hi CD127lo"].reason
    assert by_gate["Treg"].status == "skip" and "CD25hi CD127lo" in by_gate["Treg"].reason
    assert by_gate["FoxP3+"].status == "run"


@pytest.fixture(scope="module")
def no_dye_study(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("otherlab_nodye")
    otherlab.write_study(folder, otherlab.OtherLabDesign(donors=2, seed=4, dye=False, panels=("Treg",),
                                                         events=12000))
    return folder


def test_sample_without_the_dye_is_gated_and_says_what_it_skipped(no_dye_study):
    experiment = msclab.read_experiment(no_dye_study / "experiment.yaml")
    prov = Provenance("test")
    result = quantify_panel(experiment, "Treg", provenance=prov)
    assert not result.failures
    assert set(result.populations["name"]) >= {"Treg", "CD25hi CD127lo"}
    assert "CD4 divided" not in set(result.populations["name"])
    skipped = prov.steps["gating"]["Treg"]["skipped"]
    assert set(skipped) == set(result.gates)
    assert all("CTV" in why["CD4 divided"] or "CellTrace" in why["CD4 divided"] for why in skipped.values())
    table = gate_qc(result.gates, "Treg", skipped)
    assert tuple(table.columns) == GATE_QC_COLUMNS
    assert (table.loc[table["gate"] == "CD4 divided", "flag"] == "skipped").all()
    cluster = table[table["gate"] == "CD25hi CD127lo"]
    assert len(cluster) == len(result.gates) and cluster["confidence"].between(0, 1).all()


def test_validate_plan_names_the_manifest_line_of_a_missing_core_marker(no_dye_study, tmp_path):
    manifest = no_dye_study / "experiment.yaml"
    plans, problems = experiment_gate_plans(manifest)
    assert not problems and _status(plans["Treg"])["CD4 divided"] == "skip"
    lines = manifest.read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "experiment.yaml"
    broken.write_text("\n".join(line for line in lines if not line.strip().endswith(": CD127")), encoding="utf-8")
    markers_line = next(i for i, line in enumerate(lines) if line.strip() == "markers:") + 1
    _, problems = experiment_gate_plans(broken)
    assert len(problems) == 1
    assert "CD25hi CD127lo" in str(problems[0]) and f"line {markers_line}" in str(problems[0])


def test_confidence_of_a_single_peak_valley_is_flagged_low():
    record = {"method": "threshold", "resolved": {"method": "valley", "threshold": 0.3, "single_peak": True}}
    method, confidence, flag, _ = gate_confidence(record)
    assert (method, confidence, flag) == ("threshold", 0.5, "low_confidence")
    deep = {"method": "threshold", "resolved": {"method": "valley", "valley_depth_ratio": 0.05}}
    assert gate_confidence(deep)[1] == pytest.approx(0.95) and gate_confidence(deep)[2] == ""
    fixed = {"method": "rectangle", "resolved": {}}
    assert gate_confidence(fixed) is None
    assert np.isnan(gate_qc({}, "p", {"s": {"g": "why"}})["confidence"]).all()
