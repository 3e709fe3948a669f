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


def _one_peak(mode: float, spread: float, zero: float, keep: str) -> dict:
    return {"method": "threshold", "resolved": {"method": "valley", "single_peak": True, "peaks": [mode],
                                                "spread": spread, "width": 4.0, "zero": zero, "keep": keep,
                                                "threshold": mode - 4 * spread}}


def test_one_peak_confidence_judges_the_peak_against_unstained_events():
    """A lone bright peak kept above the cut (all CD45+) is trusted; a lone peak at the unstained position is not.

    Analytic values: Phi(d - width) for a kept positive peak, Phi(width - |d|) for a negative one.
    """
    from scipy.stats import norm

    bright = gate_confidence(_one_peak(0.70, 0.05, 0.11, "above"))   # d = 11.8 SD above unstained
    assert bright[1] == pytest.approx(1.0, abs=1e-4) and bright[2] == ""
    unstained = gate_confidence(_one_peak(0.12, 0.03, 0.11, "above"))  # the peak is where negatives sit
    assert unstained[1] == pytest.approx(norm.cdf(0.01 / 0.03 - 4), abs=1e-3) and unstained[2] == "low_confidence"
    negative = gate_confidence(_one_peak(0.13, 0.04, 0.11, "below"))   # Live: the viability-negative peak
    assert negative[1] == pytest.approx(norm.cdf(4 - 0.25), abs=1e-3) and negative[2] == ""

    def beyond(peak):
        return {"method": "threshold", "resolved": {"method": "beyond_peak", "peak": peak, "spread": 0.05,
                                                    "width": 3.0, "zero": 0.11, "threshold": peak + 0.15}}
    dim = gate_confidence(beyond(0.22))      # CD25- of CD4 T cells: stain index 1.1
    assert dim[1] == pytest.approx(norm.cdf(3 - 1.1), abs=1e-3) and dim[2] == ""
    bright = gate_confidence(beyond(0.50))   # the tallest peak is a resolved positive population: SI 3.9
    assert bright[1] == pytest.approx(norm.cdf(3 - 3.9), abs=1e-3) and bright[2] == "low_confidence"


@pytest.mark.parametrize("missing", ["CD45", "CD8"])
def test_cd45_and_cd8_degrade_their_gates(missing):
    """Without CD45 the gates below CD45+ run on Live; without CD8, CD4 is gated on CD4 alone and CD8 is skipped."""
    plan = {g.gate: g for g in gate_plan(load_protocol("treg"), ChannelIndex.of_panel([m for m in OMIP053 if m != missing]).has)}
    assert "missing" not in {g.status for g in plan.values()}
    if missing == "CD45":
        assert plan["CD45+"].status == "skip" and plan["CD45+"].replaced_by == "Live"
        assert plan["T cells"].status == "run" and plan["Treg"].status == "run"
    else:
        assert plan["CD4,CD8"].status == "run" and plan["CD4,CD8"].dropped == ("CD8",)
        assert "CD4 gated on CD4 alone" in plan["CD4,CD8"].reason
        assert plan["CD8 divided"].status == "skip" and plan["Treg"].status == "run"
