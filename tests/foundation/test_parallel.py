"""fork_map and fork_start: ordered maps over forked workers, with the work redone here if a worker dies."""

from __future__ import annotations

import os

import pytest

from msclab import _parallel



@pytest.fixture(autouse=True)
def forkable() -> None:
    """Skip where fork_map would not fork (off Linux, one core, or other threads running now)."""
    if _parallel.fork_context() is None or _parallel.n_processes(None, 10) < 2:
        pytest.skip("no forked workers here (Linux, 2+ cores, one thread)")


def _square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def test_fork_map_keeps_the_order_and_uses_other_processes():
    results = _parallel.fork_map(_square_and_pid, list(range(50)), n_jobs=2)
    assert [r for r, _ in results] == [x * x for x in range(50)]
    assert {pid for _, pid in results} - {os.getpid()}
    assert _parallel.fork_map(_square_and_pid, [3], n_jobs=2) == [(9, os.getpid())]  # too few items: no fork


_PARENT = os.getpid()


def _die_in_a_worker(x: int) -> int:
    if os.getpid() != _PARENT:
        os._exit(1)  # a worker killed mid-task (e.g. by the out-of-memory killer)
    return x + 1


def test_fork_map_redoes_the_work_here_when_a_worker_dies():
    with pytest.warns(RuntimeWarning, match="worker process died"):
        assert _parallel.fork_map(_die_in_a_worker, list(range(10)), n_jobs=2) == list(range(1, 11))


def test_fork_start_returns_at_once_and_its_results_in_order():
    started = _parallel.fork_start(_square_and_pid, list(range(30)), n_jobs=2)
    results = started.wait()
    assert [r for r, _ in results] == [x * x for x in range(30)]
    assert os.getpid() not in {pid for _, pid in results}  # every item ran in a background process
    assert started.wait() is results
    assert _parallel.fork_start(_square_and_pid, [], n_jobs=2).wait() == []


def test_fork_start_redoes_a_dead_workers_items_here_and_reports_errors():
    with pytest.warns(RuntimeWarning, match="background worker process died"):
        assert _parallel.fork_start(_die_in_a_worker, list(range(10)), n_jobs=2).wait() == list(range(1, 11))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        _parallel.fork_start(_reciprocal, [1, 0, 2], n_jobs=2).wait()


def _reciprocal(x: int) -> float:
    return 1 / x


def test_background_work_nobody_waits_for_does_not_hold_up_the_exit(tmp_path):
    # An error between fork_start and wait leaves a worker whose results (here 10 MB) do not fit the
    # pipe; multiprocessing joins every child at exit, so without _end_unwaited the command would hang.
    import subprocess
    import sys

    script = tmp_path / "unwaited.py"
    script.write_text("from msclab._parallel import fork_start\n"
                      "pending = fork_start(lambda _: b'x' * 10_000_000, [None])\n"
                      "raise SystemExit('an error came before the wait')\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "an error came before the wait" in done.stderr
