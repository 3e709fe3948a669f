"""``msclab batch --scheduler``: a real dask.distributed scheduler and two workers, as separate processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from msclab.batch import Registry

from .conftest import CLI_SETTINGS, assert_same_tables

DASK = Path(sys.executable).with_name("dask")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two single-threaded workers on 127.0.0.1; yields the scheduler address."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{_free_port()}"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    commands = [[str(DASK), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                 "--no-dashboard", "--no-show"]]
    commands += [[str(DASK), "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                  "--memory-limit", "1GiB", "--local-directory", str(tmp_path / f"w{i}")] for i in range(2)]
    processes = []
    try:
        for i, command in enumerate(commands):
            processes.append(subprocess.Popen(command, stdout=open(logs / f"{i}.out", "w"), stderr=subprocess.STDOUT,
                                              cwd=tmp_path))
            if i == 0:
                time.sleep(2)
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            worker_pids = set(client.run(os.getpid).values())
        yield address, worker_pids
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_external_scheduler_gives_the_serial_results(study, reference, tmp_path, cluster):
    address, worker_pids = cluster
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "msclab", "batch", str(study), "-o", str(out), "--scheduler",
                           address, "--quiet", *CLI_SETTINGS], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    # the serial batch equals analyze (test_equivalence), so this is also the serial run's result
    assert_same_tables(reference, out / "study")
    registry = Registry(out / "runs.sqlite")
    run = registry.runs()[-1]
    assert run["scheduler"] == f"dask {address}" and run["n_computed"] == 22
    pids = {int(s["worker"].rsplit(":", 1)[1]) for s in registry.samples(run["run_id"])}
    registry.close()
    assert pids <= worker_pids  # every unit ran on the external workers, none in the client


def _worker_settings() -> tuple[str | None, bool, float]:
    import dask
    from dask.utils import parse_timedelta

    return (os.environ.get("MALLOC_TRIM_THRESHOLD_"), dask.config.get("distributed.worker.profile.enabled"),
            parse_timedelta(dask.config.get("distributed.admin.tick.interval")))


def test_embedded_cluster_workers_keep_glibc_adaptive_mmap_threshold_and_run_no_profiler():
    """Dask's default MALLOC_TRIM_THRESHOLD_ slows event-array work ~1.5x, and its statistical profiler and
    20 ms event-loop tick cost a task 5-7% of its CPU time; the embedded cluster has neither."""
    from distributed import Client

    from msclab.batch.execute import local_cluster

    with local_cluster(1) as cluster, Client(cluster) as client:
        assert list(client.run(_worker_settings).values()) == [(None, False, 1.0)]
        # no scheduler queue: each worker runs the tasks handed to it in run_dask's priority order
        assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.WORKER_SATURATION) == float("inf")


def test_dask_run_submits_each_experiment_as_it_is_planned_and_runs_them_workers_at_a_time(copy_study, tmp_path):
    """The workers start on the first experiment while the next ones are planned; experiments run as many at a
    time as there are workers, their tasks interleaved (so the last assembles run side by side), an assemble
    before any other task."""
    from distributed import get_client

    from msclab.batch.execute import run_dask
    from msclab.batch.hashing import FileHashes
    from msclab.batch.inputs import resolve_inputs
    from msclab.batch.plan import plan_experiment

    from .conftest import SETTINGS

    items = resolve_inputs([copy_study(f"plate{i}") for i in range(1, 4)])
    seen: dict[str, object] = {}

    def submitted() -> set[str]:
        return {str(key) for key in get_client().futures}

    def priorities() -> dict[str, int]:
        return get_client().run_on_scheduler(
            lambda dask_scheduler: {str(k): ts.priority[0] for k, ts in dask_scheduler.tasks.items()})

    def plans():
        for i, item in enumerate(items):
            if i:  # the previous experiment's tasks are submitted before this one is planned
                seen[item.name] = {k for k in submitted() if k.endswith(f"-{items[i - 1].name}")}
            yield plan_experiment(item, tmp_path / "out", SETTINGS, FileHashes())
        for _ in range(100):  # submissions reach the scheduler in batches
            seen["priority"] = priorities()
            if "t-assemble-plate3" in seen["priority"]:
                break
            time.sleep(0.1)

    runner = run_dask(plans(), workers=2, run_id="t")
    next(runner)
    runner.close()
    assert "t-assemble-plate1" in seen["plate2"] and "t-assemble-plate2" in seen["plate3"]
    priority = seen["priority"]  # dask's scheduler runs the lowest first: minus the submitted priority
    last = max(priority[k] for k in priority if "-plate2" in k)
    assert priority["t-assemble-plate3"] < priority["t-flow-plate1-0"] == priority["t-flow-plate2-0"]
    assert priority["t-flow-plate1-0"] < priority["t-flow-plate1-1"] == priority["t-flow-plate2-1"] <= last
    assert last < priority["t-flow-plate3-0"]
