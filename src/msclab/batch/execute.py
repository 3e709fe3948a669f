"""Run the planned tasks: in this process (serial) or on dask.distributed.

Both executors run the same task functions (:mod:`msclab.batch.tasks`) and
yield their summaries as tasks finish, so the results do not depend on where
they ran. On Dask, the assemble task of an experiment takes the futures of the
experiment's tasks as arguments, so the scheduler runs it once they are all
done; every task is submitted at once and the scheduler balances them across
workers, the experiments as many at a time as there are workers (so the last
assembles run side by side, not one alone while the other workers idle). Workers need msclab installed and the inputs and ``OUT`` at the same
paths (a shared file system on a multi-machine cluster).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .plan import ExperimentPlan
from .tasks import cached_assemble, run_assay_task, run_assemble_task, run_flow_task

if TYPE_CHECKING:
    from distributed import LocalCluster


def default_workers() -> int:
    """Workers of the embedded cluster: one single-threaded worker per CPU available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


#: Dask settings of the embedded cluster (see :func:`local_cluster`).
_CLUSTER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    # Every task goes to a worker when submitted and each worker runs its tasks in priority order (run_dask's
    # order of experiments). With the scheduler's queue, the first tasks, handed to the workers at once, were
    # passed over by queued ones: the first experiment finished last and the workers' loads differed by 16%.
    "distributed.scheduler.worker-saturation": float("inf"),
    # The statistical profiler (a stack sample every 10 ms) and the system monitor feed the dashboard,
    # which the embedded cluster does not serve; the event-loop health tick every 20 ms only warns.
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "10s",
    "distributed.admin.tick.interval": "1s",
}


def local_cluster(workers: int | None = None) -> LocalCluster:
    """Start an embedded :class:`~distributed.LocalCluster` for msclab: ``workers`` x 1 thread, in processes.

    Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_`` in its workers, which fixes
    glibc's mmap threshold at 128 KiB, so every event array is mapped and
    zeroed afresh; on 100,000-event samples that made the same tasks take
    about 1.5x the time of a serial run (see ``benchmarks/bench_batch.py``).
    The workers here keep glibc's adaptive threshold; they hold one task's
    samples at a time, so their memory stays bounded without trimming. The
    scheduler hands every task to a worker when it is submitted (no queue:
    ``worker-saturation`` infinite), so each worker runs its tasks in the
    priority order :func:`run_dask` gives. The workers run without Dask's
    statistical profiler, with the system monitor
    every 10 s and the event-loop tick every second (defaults: 10 ms, 0.5 s,
    20 ms): those feed a dashboard this cluster does not serve, and cost a
    lone worker 5-7% of a task's CPU time (``benchmarks/bench_batch.py``).

    Ctrl-C is the command's to handle: the workers share the terminal's
    process group, and a worker interrupted while it starts prints a
    traceback. So they start with SIGINT ignored (a disposition a child
    inherits), while this thread blocks SIGINT: an interrupt during the start
    stays pending (Linux queues a blocked signal even when it is ignored) and
    reaches the command once the cluster is up; the command then closes the
    cluster, which ends the workers. Their log messages of that shutdown are
    not shown (a failed task is reported per sample, not through logs). The
    scheduler's HTTP server listens on a free local port, with no dashboard
    (the default port 8787 may be taken by another cluster, which Dask warns about).
    """
    import signal
    import threading

    import dask
    from distributed import LocalCluster

    main = threading.current_thread() is threading.main_thread()
    if main:
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with dask.config.set(_CLUSTER_CONFIG):
            return LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1, processes=True,
                                dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
                                silence_logs=logging.CRITICAL)
    finally:
        if main:
            signal.signal(signal.SIGINT, handler if handler is not None else signal.default_int_handler)
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def run_serial(plans: Sequence[ExperimentPlan]) -> Iterator[dict[str, Any]]:
    """Run every task here, experiment after experiment; yield each summary."""
    for plan in plans:
        if plan.done:
            yield cached_assemble(plan.assemble)
            continue
        for task in plan.flow:
            yield run_flow_task(task)
        for task in plan.assays:
            yield run_assay_task(task)
        yield run_assemble_task(plan.assemble)


def _lost(task: Any, kind: str, exc: BaseException) -> dict[str, Any]:
    """The summary of a task whose worker was lost (nothing cached)."""
    reason = f"task lost: {type(exc).__name__}: {exc}"
    if kind == "flow":
        units = [(f"flow:{task.panel}", sid, key) for sid, key in zip(task.targets, task.keys, strict=True)]
    elif kind == "assay":
        units = [(f"assay:{task.assay.id}", "", task.key)]
    else:
        units = [("assemble", "", task.key)]
    now = time.time()
    return {"kind": kind, "plate": task.plate, "started": now, "finished": now, "seconds": 0.0, "worker": "",
            "units": [{"stage": s, "sample_id": sid, "key": key, "status": "failed", "reason": reason, "qc": {},
                       "output": None, "stored": False, "computed": True} for s, sid, key in units]}


#: Priority span of one group of experiments run side by side (more than any experiment's tasks).
_GROUP_SPAN = 1_000_000


def run_dask(plans: Iterable[ExperimentPlan], *, workers: int | None = None, scheduler: str | None = None,
             run_id: str = "batch") -> Iterator[dict[str, Any]]:
    """Run every task on dask.distributed; yield each summary as it finishes.

    Parameters
    ----------
    plans
        The experiments' plans. Each one's tasks are submitted as it comes,
        so with a generator that plans them one by one the workers start on
        the first experiment while the next are planned.
    workers
        Workers of an embedded cluster (:func:`local_cluster`); default
        :func:`default_workers`.
    scheduler
        Address of an existing Dask scheduler (``tcp://host:8786``) instead.
    run_id
        Prefix of the task keys (unique per run).
    """
    from distributed import Client, as_completed

    if scheduler:
        cluster, client = None, Client(scheduler)
    else:
        cluster = local_cluster(workers)
        client = Client(cluster)
    try:
        tasks: dict[Any, tuple[str, Any]] = {}
        ready = []
        side_by_side = max(1, len(client.scheduler_info()["workers"]))
        to_run = 0
        for plan in plans:
            if plan.done:
                ready.append(cached_assemble(plan.assemble))
                continue
            # Experiments are run as many at a time as there are workers, their tasks interleaved (the j-th
            # task of each has the same priority; Dask runs the earlier submitted first on a tie), so they
            # finish together and their assembles run side by side, not one alone at the end. An assemble
            # goes before any other task.
            first = -(to_run // side_by_side) * _GROUP_SPAN
            to_run += 1
            deps = []
            for i, task in enumerate(plan.flow):
                future = client.submit(run_flow_task, task, key=f"{run_id}-flow-{plan.input.name}-{i}", pure=False,
                                       priority=first - i)
                tasks[future] = ("flow", task)
                deps.append(future)
            for i, task in enumerate(plan.assays):
                future = client.submit(run_assay_task, task, key=f"{run_id}-assay-{plan.input.name}-{i}", pure=False,
                                       priority=first - len(plan.flow) - i)
                tasks[future] = ("assay", task)
                deps.append(future)
            future = client.submit(run_assemble_task, plan.assemble, *deps, key=f"{run_id}-assemble-{plan.input.name}",
                                   pure=False, priority=1)
            tasks[future] = ("assemble", plan.assemble)
        yield from ready
        for future in as_completed(list(tasks)):
            kind, task = tasks.pop(future)
            try:
                yield future.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker fails its task's samples only
                yield _lost(task, kind, exc)
            future.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
