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
