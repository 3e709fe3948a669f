"""Ctrl-C ends a command with one line and exit code 130; the batch registry knows what was unfinished."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def wait_for(condition, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.2)
    return False


def plates_running(registry: Path) -> bool:
    if not registry.is_file():
        return False
    try:
        with sqlite3.connect(registry) as db:
            return bool(db.execute("SELECT COUNT(*) FROM plates WHERE status = 'running'").fetchone()[0])
    except sqlite3.Error:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["--serial", "--workers=1"])
def test_interrupted_batch_prints_one_line_exits_130_and_marks_plates(tmp_path, mode):
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "msclab", "batch", str(REPO / "example_data"), "-o", str(out),
                                mode, "--quiet", "--n-boot", "100"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert wait_for(lambda: plates_running(out / "runs.sqlite"), 120), "the batch never started its plate"
        time.sleep(1.0)
        os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C: the whole process group
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines == ["interrupted: interrupted; rerun the same command to resume"], stderr
    with sqlite3.connect(out / "runs.sqlite") as db:
        assert db.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
        statuses = {s for (s,) in db.execute("SELECT status FROM plates")}
    assert "running" not in statuses and "interrupted" in statuses
    assert not list(out.rglob("*.tmp*")), "a half-written output was left behind"


FINALISER_INTERRUPTED = """
import signal
from msclab.cli._common import quiet_interrupts
quiet_interrupts()

class Closing:
    def __del__(self):
        signal.raise_signal(signal.SIGINT)  # Ctrl-C arrives while a finaliser runs
        for _ in range(1000):
            pass

try:
    Closing()
    total = 0
    for i in range(5_000_000):
        total += i
    print("carried on")
except KeyboardInterrupt:
    print("interrupted")
"""


def test_ctrl_c_that_lands_in_a_finaliser_still_interrupts_the_command():
    """Python cannot raise an interrupt from a finaliser; the command must not carry on as if none came."""
    done = subprocess.run([sys.executable, "-c", FINALISER_INTERRUPTED], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "interrupted", done.stdout + done.stderr
    assert done.stderr == ""
