"""Gate many FCS files with one strategy, sample by sample (streaming, one sample in memory per process).

Samples are independent, so :func:`gate_files` gates them in forked worker
processes (:func:`msclab._parallel.fork_map`), each holding one sample's
events at a time; the records come back in the files' order and are the same
as those of a serial run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from os import PathLike
from pathlib import Path

import pandas as pd

from ..._parallel import fork_map
from ...errors import MsclabError
from .engine import Events, GatingResult, gate_events
from .strategy import Strategy

POPULATION_COLUMNS = ["sample_id", "population", "parent", "gate_id", "gate_type", "count", "parent_count",
                      "pct_parent", "pct_total"]


@dataclass
class SampleRecord:
    """What happened to one sample: its table rows or why it failed, and the reader's notes."""

    sample_id: str
    path: Path
    table: pd.DataFrame | None = None
    error: str | None = None
    leniencies: list[str] = field(default_factory=list)
    spillover: str | None = None


#: Fewest files worth a worker process (reading and gating a file takes a fraction of a second or more).
MIN_FILES_PER_PROCESS = 2


def gate_files(
    paths: Iterable[str | PathLike[str]],
    strategy: Strategy,
    *,
    on_result: Callable[[SampleRecord, GatingResult], None] | None = None,
    n_jobs: int | None = None,
) -> list[SampleRecord]:
    """Read and gate each FCS file; a bad file is recorded and the rest go on.

    Parameters
    ----------
    paths
        FCS files; the sample id is the file name (FlowJo's sample name).
    strategy
        The gating strategy (:func:`read_strategy`).
    on_result
        Called with each successful sample's record and full result (e.g. to
        write per-event membership) before the events are released; in a
        worker process when the files are gated in parallel, so it should
        write files rather than change objects of the caller.
    n_jobs
        At most this many processes (None: every usable core; 1: this
        process). See :func:`msclab._parallel.fork_map`.

    Returns
    -------
    list of SampleRecord
        One per file, in the order of ``paths``.
    """
    return fork_map(partial(_gate_file, strategy, on_result), [Path(p) for p in paths], n_jobs=n_jobs,
                    min_per_process=MIN_FILES_PER_PROCESS, chunks_per_process=8)


def _gate_file(strategy: Strategy, on_result: Callable[[SampleRecord, GatingResult], None] | None,
               path: Path) -> SampleRecord:
    from ...io import open_fcs

    record = SampleRecord(sample_id=path.name, path=path)
    try:
        fcs = open_fcs(path)
        events = Events.from_fcs(fcs, record.sample_id)
        record.leniencies = list(fcs.leniencies)
        record.spillover = events.spillover.source if events.spillover is not None else None
        result = gate_events(strategy.tree_for(record.sample_id), events)
        record.table = result.table()[POPULATION_COLUMNS]
        if on_result is not None:
            on_result(record, result)
    except MsclabError as exc:
        record.error = str(exc)
    return record


def populations_table(records: Iterable[SampleRecord]) -> pd.DataFrame:
    """Concatenate the successful samples' rows (columns :data:`POPULATION_COLUMNS`)."""
    tables = [r.table for r in records if r.table is not None]
    if not tables:
        return pd.DataFrame(columns=POPULATION_COLUMNS)
    return pd.concat(tables, ignore_index=True)
