"""Evaluate a gate tree on one sample's events: boolean membership per population.

The engine works on a plain events x channels array with the channel names, so
it does not depend on how the file was read. Per sample it

1. compensates only the detectors gates use, with each matrix's inverse
   computed once (:attr:`Spillover.inverse`) and applied to the detector
   block as one matrix product;
2. transforms only the dimensions gates use, and only for the events of the
   gate's parent population, each once per (dimension, parent);
3. evaluates gates in dependency order, each within its parent.

All values are computed in float64 column by column (a few MB per million
events), whatever the dtype of the stored events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import MsclabError
from ..channels import ChannelIndex
from ..compensation import Spillover, spillover_from_anndata, spillover_from_fcs
from ..transforms import Ratio
from .gates import FCS, UNCOMPENSATED, BooleanGate, Dimension
from .tree import GateTree


@dataclass
class Events:
    """One sample's events for gating.

    Parameters
    ----------
    data
        Events x channels (any float dtype), values after FCS scaling.
    channels
        The ``$PnN`` name of each column.
    markers
        The ``$PnS`` of each column (or empty), so gates may name markers.
    spillover
        The spillover matrix of the file's keywords (GatingML ``"FCS"``), if any.
    sample_id
        The sample's name in outputs.
    """

    data: np.ndarray
    channels: Sequence[str]
    markers: Sequence[str | None] = ()
    spillover: Spillover | None = None
    sample_id: str = ""

    def __post_init__(self) -> None:
        if self.data.ndim != 2 or self.data.shape[1] != len(self.channels):
            raise MsclabError(
                f"events have {self.data.shape[-1]} columns but {len(self.channels)} channel names",
                where=self.sample_id or None,
            )

    @classmethod
    def from_fcs(cls, fcs, sample_id: str | None = None) -> Events:
        """Build from an :class:`msclab.io.FCSFile` (:func:`msclab.io.open_fcs`).

        The streaming path: it reads the scaled float32 events without building
        an AnnData (whose per-event string index costs more than gating).
        """
        var = fcs.var
        spill = spillover_from_fcs(fcs)
        return cls(
            data=fcs.read_events(scale=True),
            channels=[str(c) for c in var.index],
            markers=[None if pd.isna(m) or str(m) == "" else str(m) for m in var["pns"]],
            spillover=spill,
            sample_id=sample_id or Path(fcs.path).name,
        )

    @classmethod
    def from_anndata(cls, adata, sample_id: str | None = None) -> Events:
        """Build from :func:`msclab.io.read_fcs` output (``X``, ``var``, ``uns['fcs']``)."""
        var = adata.var
        channels = [str(c) for c in var.index]
        markers = [None if pd.isna(m) or str(m) == "" else str(m) for m in var["pns"]] if "pns" in var else []
        return cls(
            data=np.asarray(adata.X),
            channels=channels,
            markers=markers,
            spillover=spillover_from_anndata(adata),
            sample_id=sample_id or str(adata.uns.get("sample_id", "")),
        )


@dataclass
class GatingResult:
    """Per-event membership of every population of a tree in one sample."""

    tree: GateTree
    sample_id: str
    n_events: int
    membership: dict[str, np.ndarray] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Return population id -> number of events."""
        return {pid: int(mask.sum()) for pid, mask in self.membership.items()}

    def table(self) -> pd.DataFrame:
        """Return one row per population.

        Columns: ``sample_id, population`` (full path), ``parent`` (path or
        ``root``), ``gate_id, gate_type, count, parent_count, pct_parent,
        pct_total``. Percentages are 0-100; a parent with no events gives NaN.
        """
        counts = self.counts()
        rows = []
        for pid in self.tree.populations:
            pop = self.tree.populations[pid]
            parent_count = self.n_events if pop.parent is None else counts[pop.parent]
            count = counts[pid]
            rows.append({
                "sample_id": self.sample_id,
                "population": self.tree.path(pid),
                "parent": self.tree.parent_path(pid),
                "gate_id": pid,
                "gate_type": type(pop.gate).__name__,
                "count": count,
                "parent_count": parent_count,
                "pct_parent": 100.0 * count / parent_count if parent_count else np.nan,
                "pct_total": 100.0 * count / self.n_events if self.n_events else np.nan,
            })
        return pd.DataFrame(rows)

    def events_frame(self) -> pd.DataFrame:
        """Return per-event membership, one boolean column per population id."""
        return pd.DataFrame({pid: self.membership[pid] for pid in self.tree.populations})


class _Values:
    """Lazily computed, cached dimension values of one sample.

    Compensation runs once per matrix for all events and only for the
    detectors some gate reads. A gate needs its (transformed) dimensions only
    for the events of its parent population, so transforms run on that subset
    (``rows``; None for all events), cached under the parent's id so sibling
    gates share them.
    """

    def __init__(self, tree: GateTree, events: Events) -> None:
        self.tree = tree
        self.events = events
        self._column_of = {name: i for i, name in enumerate(events.channels)}
        self._index = ChannelIndex(events.channels, dict(zip(events.channels, events.markers)))
        self._cache: dict[tuple, np.ndarray] = {}

    def _column(self, name: str) -> int:
        """Column of a gate's dimension name: a channel, a marker, or FlowJo's ``FL1_A`` for ``FL1/A``."""
        channel = self._index.find(name)
        if channel is None:
            raise MsclabError(
                f"a gate uses the channel {name!r}, which the sample does not have",
                where=self.events.sample_id or None,
                hint=f"The sample's channels are: {', '.join(self.events.channels)}.",
            )
        return self._column_of[channel]

    def _cached(self, key: tuple, compute) -> np.ndarray:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def raw(self, name: str) -> np.ndarray:
        """All events' stored (scaled) values of a channel, float64."""
        i = self._column(name)
        return self._cached(("raw", i), lambda: np.asarray(self.events.data[:, i], dtype=np.float64))

    def _matrix(self, compensation: str) -> Spillover | None:
        if compensation == UNCOMPENSATED:
            return None
        if compensation == FCS:
            return self.events.spillover  # no keyword: uncompensated (GatingML 2.0)
        return self.tree.matrices[compensation]

    def compensated(self, name: str, compensation: str) -> np.ndarray:
        """All events' compensated values of a channel (raw if the matrix does not name it)."""
        matrix = self._matrix(compensation)
        detector = matrix.detector_for(name) if matrix is not None else None
        if detector is None:
            return self.raw(name)  # not a detector of the matrix: compensation leaves it alone
        key = ("comp", id(matrix), detector)
        if key not in self._cache:
            # one product for every detector of this matrix that some gate reads
            wanted = sorted({matrix.detectors.index(d) for d in self._needed_detectors(matrix)})
            block = np.asarray(self.events.data[:, matrix.column_indices(self.events.channels)], dtype=np.float64)
            rows = matrix.compensated_columns(block, wanted)
            del block
            for k, j in enumerate(wanted):
                self._cache[("comp", id(matrix), matrix.detectors[j])] = rows[k]
        return self._cache[key]

    def _needed_detectors(self, matrix: Spillover) -> set[str]:
        names = set()
        for dim in self.tree.dimensions():
            if self._matrix(dim.compensation) is not matrix:
                continue
            if dim.ratio:
                ratio: Ratio = self.tree.transforms[dim.name]  # type: ignore[assignment]
                names.update((ratio.numerator, ratio.denominator))
            else:
                names.add(dim.name)
        return {matrix.detector_for(n) for n in names if matrix.detector_for(n) is not None}

    def __call__(self, dim: Dimension, rows: np.ndarray | None, subset: str | None) -> np.ndarray:
        """Values of ``dim`` for the events ``rows`` (all if None) of population ``subset``."""
        return self._cached(("dim", dim, subset), lambda: self._compute(dim, rows))

    def _compute(self, dim: Dimension, rows: np.ndarray | None) -> np.ndarray:
        def pick(name: str) -> np.ndarray:
            full = self.compensated(name, dim.compensation)
            return full if rows is None else full[rows]

        if dim.ratio:
            ratio: Ratio = self.tree.transforms[dim.name]  # type: ignore[assignment]
            values = ratio.apply(pick(ratio.numerator), pick(ratio.denominator))
        else:
            values = pick(dim.name)
        if dim.transform is not None:
            values = self.tree.transforms[dim.transform].apply(values)
        return values


def gate_events(tree: GateTree, events: Events) -> GatingResult:
    """Evaluate every population of ``tree`` on ``events``.

    Each gate is evaluated only on the events of its parent population.

    Parameters
    ----------
    tree
        The gate tree (validated here).
    events
        The sample's events.

    Returns
    -------
    GatingResult
        Membership of each population (including its ancestors' gates).
    """
    tree.validate()
    values = _Values(tree, events)
    n = events.data.shape[0]
    result = GatingResult(tree=tree, sample_id=events.sample_id, n_events=n)
    rows_of: dict[str, np.ndarray] = {}
    for pid in tree.order():
        pop = tree.populations[pid]
        shape = pop.shape
        parent = pop.parent
        if isinstance(shape, BooleanGate):
            mask = shape.combine([result.membership[ref] for ref, _ in shape.operands])
            if parent is not None:
                mask &= result.membership[parent]
        elif parent is None:
            mask = shape.contains([values(d, None, None) for d in shape.dimensions])
        else:
            if parent not in rows_of:
                rows_of[parent] = np.flatnonzero(result.membership[parent])
            rows = rows_of[parent]
            mask = np.zeros(n, dtype=bool)
            if rows.size:
                mask[rows] = shape.contains([values(d, rows, parent) for d in shape.dimensions])
        result.membership[pid] = mask
    return result
