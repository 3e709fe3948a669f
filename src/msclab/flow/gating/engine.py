"""Evaluate a gate tree on one sample's events: boolean membership per population.

The engine works on a plain events x channels array with the channel names, so
it does not depend on how the file was read. Per sample it

1. extracts the values gates read only for the events of each gate's parent
   population: the stored channels, and the detectors gates use compensated
   with each matrix's inverse (computed once, :attr:`Spillover.inverse`), in
   one blocked pass over the parent's events (see :class:`_Values`);
2. transforms only the dimensions gates use, for those events, each once per
   (dimension, parent);
3. evaluates gates in dependency order, each within its parent.

All values are computed in float64 (a few MB per million events), whatever
the dtype of the stored events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..._parallel import one_thread
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


#: Events per block when values are extracted: a block's float64 copy stays in the CPU cache.
_BLOCK_EVENTS = 8192


class _Values:
    """Lazily computed, cached dimension values of one sample.

    A gate needs its dimensions only for the events of its parent population.
    The first time a gate with a given parent asks for values, every value the
    gates with that parent read (stored channels, and detectors compensated by
    each matrix) is extracted for the parent's events in one pass over the
    events, block by block (:data:`_BLOCK_EVENTS` events: the block is
    gathered, cast to float64 and multiplied by the inverse spillover columns
    while it is in the CPU cache), so compensation and float64 copies cost one
    read of the parent's events and no full-length temporary arrays.
    Transforms then run on those values, cached under the parent's id so
    sibling gates share them.
    """

    def __init__(self, tree: GateTree, events: Events) -> None:
        self.tree = tree
        self.events = events
        self._column_of = {name: i for i, name in enumerate(events.channels)}
        self._index = ChannelIndex(events.channels, dict(zip(events.channels, events.markers)))
        self._cache: dict[tuple, np.ndarray] = {}
        # (channel, compensation) pairs the gates with each parent read
        self._reads: dict[str | None, dict[tuple[str, str], None]] = {}
        for pop in tree.populations.values():
            if isinstance(pop.shape, BooleanGate):
                continue
            wanted = self._reads.setdefault(pop.parent, {})
            for dim in pop.shape.dimensions:
                for name in self._channels_of(dim):
                    wanted[(name, dim.compensation)] = None

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

    def _channels_of(self, dim: Dimension) -> tuple[str, ...]:
        if dim.ratio:
            ratio: Ratio = self.tree.transforms[dim.name]  # type: ignore[assignment]
            return ratio.numerator, ratio.denominator
        return (dim.name,)

    def _matrix(self, compensation: str) -> Spillover | None:
        if compensation == UNCOMPENSATED:
            return None
        if compensation == FCS:
            return self.events.spillover  # no keyword: uncompensated (GatingML 2.0)
        return self.tree.matrices[compensation]

    def _source(self, name: str, compensation: str) -> tuple:
        """``("raw", column)``, or ``("comp", matrix id, detector)`` if the matrix compensates ``name``."""
        matrix = self._matrix(compensation)
        detector = matrix.detector_for(name) if matrix is not None else None
        if detector is None:
            return ("raw", self._column(name))  # not a detector of the matrix: compensation leaves it alone
        return ("comp", compensation, detector)

    def channel(self, name: str, compensation: str, rows: np.ndarray | None, subset: str | None) -> np.ndarray:
        """Float64 values of a channel, compensated as asked, for the events ``rows`` (all if None) of ``subset``."""
        source = self._source(name, compensation)
        if (source, subset) not in self._cache:
            wanted = {self._source(*pair): None for pair in self._reads.get(subset, {})}
            wanted[source] = None
            self._extract([s for s in wanted if (s, subset) not in self._cache], rows, subset)
        return self._cache[(source, subset)]

    def _extract(self, sources: list[tuple], rows: np.ndarray | None, subset: str | None) -> None:
        """Compute ``sources`` for the events ``rows`` in one blocked pass and cache them under ``subset``."""
        data = self.events.data
        n = data.shape[0] if rows is None else rows.size
        out = np.empty((len(sources), n))
        raw = [(k, s[1]) for k, s in enumerate(sources) if s[0] == "raw"]
        products = []  # (output rows, detector columns, inverse columns) per matrix
        for compensation in dict.fromkeys(s[1] for s in sources if s[0] == "comp"):
            matrix = self._matrix(compensation)
            assert matrix is not None
            ks = [k for k, s in enumerate(sources) if s[0] == "comp" and s[1] == compensation]
            columns = [matrix.detectors.index(sources[k][2]) for k in ks]
            products.append((ks, matrix.column_indices(self.events.channels),
                             np.ascontiguousarray(matrix.inverse[:, columns].T)))
        with one_thread("blas"):  # skinny products: one thread is fastest
            for start in range(0, n, _BLOCK_EVENTS):
                stop = min(start + _BLOCK_EVENTS, n)
                block = data[start:stop] if rows is None else np.take(data, rows[start:stop], axis=0)
                for k, column in raw:
                    out[k, start:stop] = block[:, column]
                for ks, detector_columns, inverse in products:
                    detectors = np.asarray(block[:, detector_columns], dtype=np.float64)
                    out[ks, start:stop] = inverse @ detectors.T
        for k, source in enumerate(sources):
            self._cache[(source, subset)] = out[k]

    def __call__(self, dim: Dimension, rows: np.ndarray | None, subset: str | None) -> np.ndarray:
        """Values of ``dim`` for the events ``rows`` (all if None) of population ``subset``."""
        key = ("dim", dim, subset)
        if key not in self._cache:
            values = [self.channel(name, dim.compensation, rows, subset) for name in self._channels_of(dim)]
            if dim.ratio:
                ratio: Ratio = self.tree.transforms[dim.name]  # type: ignore[assignment]
                result = ratio.apply(*values)
            else:
                result = values[0]
            if dim.transform is not None:
                result = self.tree.transforms[dim.transform].apply(result)
            self._cache[key] = result
        return self._cache[key]


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
