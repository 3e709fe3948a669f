"""A batch gives exactly what ``msclab analyze`` gives, and a rerun computes nothing."""

from __future__ import annotations

import time

import html

import pandas as pd
import pytest

from msclab.batch import Registry, run_batch
from msclab.pipeline import analyze, gate_warnings

from .conftest import SETTINGS, assert_same_tables, zero_events


def test_serial_batch_equals_analyze_and_rerun_is_all_cached(study, reference, tmp_path):
    clock = time.perf_counter()
    first = run_batch([study], tmp_path, settings=SETTINGS, workers=0)
    wall = time.perf_counter() - clock
    assert first.ok and first.computed == 22 and first.cached == 0  # 18 flow samples + 4 ELISA plates
    assert_same_tables(reference, tmp_path / "study")
    for name in ("runs.sqlite", "batch_report.html", "levey_jennings.csv"):
        assert (tmp_path / name).is_file()
    # The plate's seconds are its wall time in the run (serial: at least every task's time), not the assembly's.
    registry = Registry(tmp_path / "runs.sqlite")
    (run,) = registry.runs()
    (plate,) = registry.plates(run["run_id"])
    tasks = registry.db.execute("SELECT DISTINCT started, finished FROM samples WHERE run_id = ?",
                                (run["run_id"],)).fetchall()
    registry.close()
    assert sum(f - s for s, f in tasks) <= plate["seconds"] <= wall
    report = (tmp_path / "batch_report.html").read_text()
    assert '<a href="study/report.html">' in report and (tmp_path / "study" / "report.html").is_file()
    # The experiment's warnings (skipped and low-confidence gates) reach the batch result and report.
    expected = gate_warnings(pd.read_csv(reference / "gate_qc.csv"))
    warnings = [w["warning"] for w in first.warnings]
    assert expected and set(expected) <= set(warnings) and {w["plate"] for w in first.warnings} == {"study"}
    assert all(html.escape(w) in report for w in warnings)
    assert f"{len(warnings)} warning(s)" in report

    again = run_batch([study / "experiment.yaml"], tmp_path, settings=SETTINGS, workers=0)
    assert again.ok and again.computed == 0 and again.cached == 22
    assert again.warnings == first.warnings  # a cached experiment keeps its warnings
    assert_same_tables(reference, tmp_path / "study")
    registry = Registry(tmp_path / "runs.sqlite")
    runs = registry.runs()
    assert [(r["status"], r["n_computed"], r["n_cached"]) for r in runs] == [("done", 22, 0), ("done", 0, 22)]
    registry.close()


@pytest.mark.parametrize("per_task", [1, 2])
def test_grouped_tasks_give_the_same_results(study, reference, tmp_path, per_task):
    result = run_batch([study], tmp_path, settings=SETTINGS, workers=0, samples_per_task=per_task)
    assert result.ok
    assert_same_tables(reference, tmp_path / "study")


def test_a_failed_control_widens_to_every_control_like_analyze(copy_study, tmp_path):
    folder = copy_study()
    zero_events(folder / "fcs" / "D1_unstim_treg.fcs")  # D1's proliferation control cannot be gated
    expected = tmp_path / "analyze"
    analyze(folder / "experiment.yaml", expected, SETTINGS)
    result = run_batch([folder], tmp_path / "batch", settings=SETTINGS, workers=0)
    assert {(f["stage"], f["sample_id"]) for f in result.failures} == {("flow:treg", "D1_unstim")}
    assert_same_tables(expected, tmp_path / "batch" / "study")
