"""Gate many FCS files with one strategy, sample by sample (streaming, one sample in memory)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import pandas as pd

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


def gate_files(
    paths: Iterable[str | PathLike[str]],
    strategy: Strategy,
    *,
    on_result: Callable[[SampleRecord, GatingResult], None] | None = None,
) -> list[SampleRecord]:
    """Read and gate each FCS file in turn; a bad file is recorded and the rest go on.

    Parameters
    ----------
    paths
        FCS files; the sample id is the file name (FlowJo's sample name).
    strategy
        The gating strategy (:func:`read_strategy`).
    on_result
        Called with each successful sample's record and full result (e.g. to
        write per-event membership) before the events are released.
    """
    from ...io import open_fcs

    records = []
    for raw_path in paths:
        path = Path(raw_path)
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
        records.append(record)
    return records


def populations_table(records: Iterable[SampleRecord]) -> pd.DataFrame:
    """Concatenate the successful samples' rows (columns :data:`POPULATION_COLUMNS`)."""
    tables = [r.table for r in records if r.table is not None]
    if not tables:
        return pd.DataFrame(columns=POPULATION_COLUMNS)
    return pd.concat(tables, ignore_index=True)
