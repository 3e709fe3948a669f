"""A FlowJo workspace that cannot be written is an export failure, not a failed sample (issue 16)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
from typer.testing import CliRunner

import msclab.pipeline as pipeline
from msclab.cli import app
from msclab.pipeline import EXPORT_STAGE, AnalysisResult

EXAMPLE = Path(__file__).resolve().parents[2] / "example_data" / "experiment.yaml"
REASON = "FlowJo cannot store an Ellipsoid gate (population 'c_mid')"


def _result(failures: list[dict[str, str]]) -> AnalysisResult:
    """An analysis result whose only content is its failures (what the terminal summary reads)."""
    return AnalysisResult(experiment=None, readouts=None, effects=pd.DataFrame(),
                          comparison=SimpleNamespace(summary="score 0.5"),
                          failures=pd.DataFrame(failures, columns=["sample_id", "stage", "reason"]))


EXPORT = {"sample_id": "", "stage": f"{EXPORT_STAGE}treg", "reason": REASON}
SAMPLE = {"sample_id": "D1_pbmc", "stage": "fcs", "reason": "truncated file"}
ASSAY = {"sample_id": "", "stage": "assay:ifng", "reason": "unreadable export"}


def test_an_export_failure_is_not_counted_as_a_failed_sample() -> None:
    result = _result([EXPORT])
    assert result.n_failed == 0
    assert list(result.export_failures["stage"]) == ["flowjo_export:treg"] and not len(result.sample_failures)
    assert any(w.startswith("panel treg: the FlowJo workspace was not written") and REASON in w
               for w in result.warnings)
    # with real failures beside it, only those count: one sample and one assay export
    assert _result([EXPORT, SAMPLE, ASSAY]).n_failed == 2


def test_the_terminal_reports_an_export_failure_as_such(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pipeline, "analyze", lambda *args, **kwargs: _result([EXPORT]))
    run = CliRunner().invoke(app, ["analyze", str(EXAMPLE), "-o", str(tmp_path / "out"), "--no-plots"])
    assert run.exit_code == 0, run.output
    assert "sample(s) failed" not in run.output
    assert "panel treg: the FlowJo workspace was not written" in run.output and REASON in run.output

    monkeypatch.setattr(pipeline, "analyze", lambda *args, **kwargs: _result([EXPORT, SAMPLE]))
    run = CliRunner().invoke(app, ["analyze", str(EXAMPLE), "-o", str(tmp_path / "out2"), "--no-plots"])
    assert run.exit_code == 1
    assert "1 sample(s) failed" in run.output and "D1_pbmc" in run.output
    assert "[flowjo_export:treg]" not in run.output  # listed once, as the warning above the failures
