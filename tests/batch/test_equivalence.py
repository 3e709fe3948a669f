"""A batch gives exactly what ``msclab analyze`` gives, and a rerun computes nothing."""

from __future__ import annotations

import pytest

from msclab.batch import Registry, run_batch
from msclab.pipeline import analyze

from .conftest import SETTINGS, assert_same_tables, zero_events


def test_serial_batch_equals_analyze_and_rerun_is_all_cached(study, reference, tmp_path):
    first = run_batch([study], tmp_path, settings=SETTINGS, workers=0)
    assert first.ok and first.computed == 22 and first.cached == 0  # 18 flow samples + 4 ELISA plates
    assert_same_tables(reference, tmp_path / "study")
    for name in ("runs.sqlite", "batch_report.html", "levey_jennings.csv"):
        assert (tmp_path / name).is_file()

    again = run_batch([study / "experiment.yaml"], tmp_path, settings=SETTINGS, workers=0)
    assert again.ok and again.computed == 0 and again.cached == 22
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
