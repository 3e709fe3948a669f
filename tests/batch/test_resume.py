"""SIGKILL a batch mid-run, rerun it: nothing finished is computed again, nothing is missing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from msclab.batch import Registry, run_batch

from .conftest import CLI_SETTINGS, SETTINGS, assert_same_tables

UNITS = 22  # 18 flow samples + 4 ELISA plates


def _computed(db) -> int:
    if not db.is_file():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("SELECT COUNT(*) FROM samples WHERE computed = 1").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.parametrize("mode", [["--serial"], pytest.param(["--workers", "2"], marks=pytest.mark.slow)])
def test_killed_batch_resumes_to_identical_results(study, reference, tmp_path, mode):
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "msclab", "batch", str(study), "-o", str(out), "--quiet",
                                *mode, *CLI_SETTINGS], start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while _computed(out / "runs.sqlite") < 5 and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the batch finished before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)  # the batch and, with --workers, its local cluster
    process.wait()

    registry = Registry(out / "runs.sqlite")
    killed = registry.runs()[0]
    first = {(s["stage"], s["sample_id"]) for s in registry.samples(killed["run_id"]) if s["computed"]}
    registry.close()
    assert killed["status"] == "running" and 5 <= len(first) < UNITS

    result = run_batch([study], out, settings=SETTINGS, workers=0)
    assert result.ok
    registry = Registry(out / "runs.sqlite")
    rerun = registry.samples(registry.runs()[-1]["run_id"])
    registry.close()
    second = {(s["stage"], s["sample_id"]) for s in rerun if s["computed"]}
    assert not first & second  # no unit finished before the kill was computed again
    assert len(rerun) == UNITS and all(s["status"] == "ok" for s in rerun)
    assert result.computed + result.cached == UNITS
    assert_same_tables(reference, out / "study")
