"""``msclab analyze`` shows its progress on a terminal and nothing extra when piped."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from msclab.simulate import StudyDesign, simulate_study


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("progress") / "study"
    simulate_study(folder, StudyDesign(donors=2, events=2000, seed=3))
    return folder


def _on_a_terminal(args: list[str]) -> tuple[int, str]:
    """Run a command with stdout and stderr on a pseudo-terminal; return its exit code and output."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=300), b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.slow
def test_progress_on_a_terminal_and_none_when_piped(tiny_study, tmp_path):
    command = [sys.executable, "-m", "msclab", "analyze", str(tiny_study / "experiment.yaml"), "--no-plots",
               "--n-boot", "100", "-o"]
    code, shown = _on_a_terminal([*command, str(tmp_path / "tty")])
    assert code == 0, shown
    assert "gating panel th_ics (1/2" in shown and "fitting standard curves" in shown, shown
    assert "Traceback" not in shown

    piped = subprocess.run([*command, str(tmp_path / "pipe")], capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0, piped.stderr
    assert "gating panel" not in piped.stdout + piped.stderr
    lines = piped.stdout.splitlines()
    assert len(lines) == 2 and lines[1] == f"Report: {tmp_path / 'pipe' / 'report.html'}", piped.stdout
