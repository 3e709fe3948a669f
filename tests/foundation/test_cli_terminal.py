"""On a terminal: progress while ``msclab analyze`` runs, messages wrapped without splitting a path.

Nothing extra when piped (see ``test_cli_usage.py`` for unwrapped piped messages).
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

import pytest

from msclab.simulate import StudyDesign, simulate_study


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("progress") / "study"
    simulate_study(folder, StudyDesign(donors=2, events=2000, seed=3))
    return folder


def _on_a_terminal(args: list[str], columns: int = 100) -> tuple[int, str]:
    """Run a command with stdout and stderr on a pseudo-terminal; return its exit code and output."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm"}
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
    assert "gating 2 panel(s)" in shown and "assay export(s)" in shown and "estimating effects" in shown, shown
    assert "Traceback" not in shown

    piped = subprocess.run([*command, str(tmp_path / "pipe")], capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0, piped.stderr
    assert "panel(s)" not in piped.stdout + piped.stderr
    lines = piped.stdout.splitlines()
    assert len(lines) == 2 and lines[1] == f"Report: {tmp_path / 'pipe' / 'report.html'}", piped.stdout


def _plain(shown: str) -> list[str]:
    """The lines a terminal shows, without colour codes.

    The terminal ends lines with CR LF; a lone carriage return starts the line again (the progress
    line is redrawn and erased that way), so only what follows the last one stays visible.
    """
    return [line.split("\r")[-1] for line in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown).replace("\r\n", "\n").split("\n")]


@pytest.mark.parametrize("command", ["validate", "analyze"])
def test_a_path_with_spaces_is_never_split_on_a_terminal(tmp_path, command):
    folder = tmp_path / "Plate 1 export from the core facility" / "Compensation Controls Blue B Stained"
    folder.mkdir(parents=True)
    missing = folder / "my experiment file.yaml"
    args = [sys.executable, "-m", "msclab", command, str(missing)]
    if command == "analyze":
        args += ["-o", str(tmp_path / "out")]
    code, shown = _on_a_terminal(args, columns=60)
    assert code == 2, shown
    lines = _plain(shown)
    assert any(str(missing) in line for line in lines), shown  # whole on one line, though longer than 60
    assert "Traceback" not in shown
    text = " ".join(line.strip() for line in lines)
    assert "does not exist" in text
    # The prose around it is still wrapped to the terminal.
    assert all(len(line) <= 60 for line in lines if line.strip() and str(missing) not in line), lines


def test_validate_problems_keep_their_paths_whole_on_a_terminal(tmp_path):
    folder = tmp_path / "run with spaces in its name"
    folder.mkdir()
    (folder / "experiment.yaml").write_text("name: x\nsamplesheet: the samples sheet.csv\npanels: {}\n")
    code, shown = _on_a_terminal([sys.executable, "-m", "msclab", "validate", str(folder / "experiment.yaml")],
                                 columns=60)
    assert code == 2, shown
    lines = _plain(shown)
    assert any(str(folder / "experiment.yaml") in line for line in lines), shown
    assert "Traceback" not in shown


def test_the_step_display_starts_no_thread_so_work_may_fork():
    """A refresh thread would make :func:`msclab._parallel.fork_context` refuse to fork (one core on a terminal)."""
    import io
    import threading

    from rich.console import Console

    from msclab._parallel import fork_context
    from msclab.cli._common import step_display

    before = threading.active_count()
    terminal = Console(file=io.StringIO(), force_terminal=True, width=80)
    with step_display(terminal, "analysing") as show:
        show("gating panel th_ics (1/2)")
        assert threading.active_count() == before
        assert before > 1 or fork_context() is not None
    assert "gating panel th_ics (1/2)" in terminal.file.getvalue()
