"""Ordered maps over forked worker processes, for CPU-bound loops (curve fits, gate plots).

:func:`fork_map` runs a function over items in forked processes and returns
the results in the items' order, so the output does not depend on the number
of processes. Forked workers start in milliseconds (a fresh interpreter would
spend seconds importing msclab) and inherit the items, so nothing but the
results is pickled. Forking is avoided where it is not safe: off Linux, in
daemon processes (which may not have children) and while other threads run
(a fork copies locks they may hold, e.g. inside Dask workers, which
parallelise over tasks already); the loop then runs in this process.

:func:`fork_start` does the same in the background: the workers start and
this process goes on with other work until it asks for the results, so work
whose results are needed only at the end (gate plots, read back by the
report) overlaps the rest of the analysis. Background processes nobody
waited for (an error came first) are ended when the interpreter exits, so a
worker blocked on results too large for its pipe never holds up the exit.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import multiprocessing.util  # registers its exit handler first, so _end_unwaited runs before it
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager
from functools import lru_cache
from multiprocessing.context import BaseContext
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
R = TypeVar("R")

#: Environment variables that cap OpenMP/BLAS threads in worker processes.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

#: What the forked workers inherit: the function and the items (set only while a pool runs).
_SHARED: tuple[Callable[[Any], Any], Sequence[Any]] | None = None

#: Background processes of :func:`fork_start` not yet waited for (ended at exit, see :func:`_end_unwaited`).
_UNWAITED: set[Any] = set()


def fork_context() -> BaseContext | None:
    """The ``fork`` start method where forking this process is safe, else None."""
    if not sys.platform.startswith("linux") or "fork" not in mp.get_all_start_methods():
        return None
    if mp.current_process().daemon or threading.active_count() > 1:
        return None
    return mp.get_context("fork")


def n_processes(n_jobs: int | None, n_items: int, min_per_process: int = 1) -> int:
    """Worker processes for ``n_items`` items (1: none, run in this process).

    At most ``n_jobs`` (None: every usable core), each with at least
    ``min_per_process`` items.

    Raises
    ------
    ValueError
        ``n_jobs`` below 1.
    """
    if n_jobs is not None and n_jobs < 1:
        raise ValueError(f"n_jobs must be None or at least 1, not {n_jobs}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    wanted = cores if n_jobs is None else n_jobs
    return max(1, min(wanted, n_items // max(1, min_per_process)))


def single_threaded() -> None:
    """Initialise a worker process: a quiet exit on Ctrl-C, one OpenMP/BLAS thread.

    Ctrl-C sends SIGINT to the terminal's whole process group; a worker would
    print its own traceback. It exits at once and silently instead, and the
    parent, which got the same signal, reports the interrupt. One thread per
    library, as the processes already share the cores.
    """
    signal.signal(signal.SIGINT, _exit_quietly)
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the variables still hold for any library loaded from now on
        return
    threadpool_limits(1)


def one_thread(user_api: str | None = None) -> AbstractContextManager[Any]:
    """A context in which the BLAS (``user_api="blas"``) or every BLAS/OpenMP library loaded runs one thread.

    As :func:`threadpoolctl.threadpool_limits`, which finds the loaded
    libraries again on every call (about a millisecond: hundreds of calls in
    an analysis); here they are found once for as long as no module is
    imported (a new extension module may load a new library).
    """
    return _thread_pools(len(sys.modules)).limit(limits=1, user_api=user_api)


@lru_cache(maxsize=1)
def _thread_pools(n_modules: int) -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _exit_quietly(signum: int, frame: Any) -> None:
    os._exit(128 + signum)


def _run_chunk(bounds: tuple[int, int]) -> list[Any]:
    assert _SHARED is not None, "fork_map's items are only set in its forked workers"
    func, items = _SHARED
    return [func(item) for item in items[bounds[0]:bounds[1]]]


def fork_map(func: Callable[[T], R], items: Sequence[T], *, n_jobs: int | None = None, min_per_process: int = 1,
             chunks_per_process: int = 4) -> list[R]:
    """Return ``[func(item) for item in items]``, computed in forked worker processes where that is safe.

    Parameters
    ----------
    func
        Applied to each item; its results must be picklable.
    items
        The items (inherited by the workers, never pickled).
    n_jobs
        At most this many processes (None: every usable core; 1: this process).
    min_per_process
        Fewest items worth a process (a fork costs about as much as a small item).
    chunks_per_process
        Contiguous chunks per process, so that items that take longer even out.

    Returns
    -------
    list
        The results, in the order of ``items``. If a worker process dies
        (killed, out of memory), the map is run again in this process, with a
        warning.
    """
    global _SHARED
    processes = n_processes(n_jobs, len(items), min_per_process)
    context = fork_context() if processes > 1 else None
    if context is None or _SHARED is not None:
        return [func(item) for item in items]
    cuts = np.linspace(0, len(items), chunks_per_process * processes + 1).astype(int)
    bounds = [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
    _SHARED = (func, items)
    try:
        with ProcessPoolExecutor(processes, mp_context=context, initializer=single_threaded) as pool:
            return [result for done in pool.map(_run_chunk, bounds) for result in done]
    except BrokenProcessPool:  # a worker was killed (e.g. out of memory): do the work here instead
        warnings.warn("a worker process died; running the remaining work in this process", RuntimeWarning,
                      stacklevel=2)
    finally:
        _SHARED = None
    return [func(item) for item in items]


class Forked:
    """Work started by :func:`fork_start`; :meth:`wait` returns its results.

    Holds either running worker processes (each sending its chunk's results
    through a pipe) or, where forking was not safe, the results computed at
    the start.
    """

    def __init__(self, func: Callable[[Any], Any], results: list[Any] | None = None,
                 workers: list[tuple[Any, Any, Sequence[Any]]] | None = None):
        self._func = func
        self._results = results
        self._workers = workers or []

    def wait(self) -> list[Any]:
        """Wait for the workers and return the results in the order of the items.

        A worker that died without sending its results (killed, out of
        memory) has its items redone in this process, with a warning, as
        :func:`fork_map` does.

        Raises
        ------
        RuntimeError
            ``func`` raised in a worker (the message holds its traceback).
        """
        if self._results is None:
            results, errors = [], []
            for process, pipe, items in self._workers:
                try:
                    status, payload = pipe.recv()
                except EOFError:
                    warnings.warn("a background worker process died; redoing its work in this process",
                                  RuntimeWarning, stacklevel=2)
                    status, payload = "ok", [self._func(item) for item in items]
                process.join()
                _UNWAITED.discard(process)
                pipe.close()
                if status == "ok":
                    results += payload
                else:
                    errors.append(payload)
            self._workers = []
            if errors:
                raise RuntimeError("background work failed:\n" + "\n".join(errors))
            self._results = results
        return self._results


def fork_start(func: Callable[[T], R], items: Sequence[T], *, n_jobs: int | None = None,
               min_per_process: int = 1) -> Forked:
    """Start ``[func(item) for item in items]`` in forked processes and return without waiting.

    Parameters
    ----------
    func
        Applied to each item; its results must be picklable.
    items
        The items (inherited by the workers, never pickled).
    n_jobs
        At most this many processes (None: every usable core; 1: one process).
    min_per_process
        Fewest items worth a process.

    Returns
    -------
    Forked
        Its :meth:`~Forked.wait` returns the results in the order of
        ``items``. Where forking is not safe (:func:`fork_context`) the
        results are computed here, before this returns.
    """
    context = fork_context() if items else None
    if context is None or _SHARED is not None:
        return Forked(func, results=[func(item) for item in items])
    processes = n_processes(n_jobs, len(items), min_per_process)
    cuts = np.linspace(0, len(items), processes + 1).astype(int)
    workers = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        receive, send = context.Pipe(duplex=False)
        chunk = items[int(a):int(b)]
        process = context.Process(target=_run_and_send, args=(func, chunk, send))
        process.start()
        _UNWAITED.add(process)
        send.close()
        workers.append((process, receive, chunk))
    return Forked(func, workers=workers)


@atexit.register
def _end_unwaited() -> None:
    """End the background processes nobody waited for (an error came first) before the interpreter exits.

    A worker whose results exceed the pipe's buffer blocks until they are read;
    ``multiprocessing`` joins every child at exit, which would then wait forever.
    """
    for process in list(_UNWAITED):
        if process.is_alive():
            process.terminate()
        process.join()
    _UNWAITED.clear()


def _run_and_send(func: Callable[[Any], Any], items: Sequence[Any], pipe) -> None:
    """Body of a :func:`fork_start` worker: one thread per library, the results (or the traceback) to the pipe."""
    single_threaded()
    try:
        message = ("ok", [func(item) for item in items])
    except BaseException:  # noqa: BLE001 - every failure goes back to the waiting process
        message = ("error", traceback.format_exc())
    pipe.send(message)
    pipe.close()
