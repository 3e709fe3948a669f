"""The result of quantifying one panel: :class:`PanelResult` and its :class:`PanelProvenance`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from .._parallel import Forked
from .gating.gatingml import write_gatingml
from .gating.tree import GateTree
from .protocols.sample import safe_id
from .protocols.schema import Protocol


@dataclass
class PanelProvenance:
    """What quantifying one panel read and decided: its fragment of ``provenance.json``.

    :meth:`msclab.provenance.Provenance.record` puts it into a run's record;
    ``analyze`` and ``batch`` do that in one place each, the same way.

    Attributes
    ----------
    panel
        Panel name.
    gating
        ``steps['gating'][panel]``: protocol, transforms, every sample's
        resolved gates, failures and skipped gates (None for a panel gated by
        a GatingML or FlowJo file, whose file is the record).
    normalisation
        ``steps['normalisation'][panel]``: the batch normalisation applied, if any.
    control_fallbacks
        ``steps['control_fallbacks']``: gates that found no control sample.
    gate_overrides
        ``steps['gate_overrides'][panel]``: sample id -> override file and SHA-256.
    inputs
        ``(path, role)`` of every file read.
    leniencies
        ``(path, what)`` of every leniency a reader applied.
    """

    panel: str
    gating: dict[str, Any] | None = None
    normalisation: dict[str, Any] | None = None
    control_fallbacks: list[dict[str, Any]] = field(default_factory=list)
    gate_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    inputs: list[tuple[str, str]] = field(default_factory=list)
    leniencies: list[tuple[str, str]] = field(default_factory=list)

    def steps(self) -> dict[str, Any]:
        """The ``steps`` sections this fragment adds: section -> {panel: record}, or a list to extend."""
        out: dict[str, Any] = {}
        if self.normalisation is not None:
            out["normalisation"] = {self.panel: self.normalisation}
        if self.gate_overrides:
            out["gate_overrides"] = {self.panel: dict(self.gate_overrides)}
        if self.control_fallbacks:
            out["control_fallbacks"] = list(self.control_fallbacks)
        if self.gating is not None:
            out["gating"] = {self.panel: self.gating}
        return out

    def sample(self, sample_id: str, file: str) -> PanelProvenance:
        """The part of this fragment about one sample and its FCS ``file`` (what ``batch`` caches per sample)."""
        gating = None
        if self.gating is not None:
            gating = {k: v for k, v in self.gating.items() if k not in ("samples", "failures", "skipped")}
            for key in ("samples", "failures", "skipped"):
                if sample_id in self.gating.get(key, {}):
                    gating.setdefault(key, {})[sample_id] = self.gating[key][sample_id]
        return replace(
            self, gating=gating,
            control_fallbacks=[f for f in self.control_fallbacks if f["sample_id"] == sample_id],
            gate_overrides={k: v for k, v in self.gate_overrides.items() if k == sample_id},
            inputs=[i for i in self.inputs if i[0] == file],
            leniencies=[x for x in self.leniencies if x[0] == file])

    @classmethod
    def merge(cls, panel: str, parts: list[PanelProvenance]) -> PanelProvenance:
        """Join per-sample fragments of one panel (in sample order) into the panel's fragment."""
        out = cls(panel)
        for part in parts:
            if part.gating is not None:
                if out.gating is None:
                    out.gating = {k: v for k, v in part.gating.items() if k not in ("samples", "failures", "skipped")}
                    out.gating.update(samples={}, failures={})
                for key in ("samples", "failures", "skipped"):
                    if part.gating.get(key):
                        out.gating.setdefault(key, {}).update(part.gating[key])
            if out.normalisation is None:
                out.normalisation = part.normalisation
            out.control_fallbacks += part.control_fallbacks
            out.gate_overrides.update(part.gate_overrides)
            out.inputs += [i for i in part.inputs if i not in out.inputs]
            out.leniencies += [x for x in part.leniencies if x not in out.leniencies]
        if out.gating is not None and "skipped" not in out.gating:
            out.gating["skipped"] = {}
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (:meth:`from_dict` reads it back)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PanelProvenance:
        """Read :meth:`to_dict` output (pairs may come back from JSON as lists)."""
        return cls(**{**data, "inputs": [tuple(i) for i in data.get("inputs", [])],
                      "leniencies": [tuple(x) for x in data.get("leniencies", [])]})

    def __repr__(self) -> str:
        return (f"PanelProvenance({self.panel!r}, {len(self.inputs)} inputs, "
                f"sections {sorted(self.steps())})")


@dataclass
class PanelResult:
    """Everything :func:`quantify_panel` found for one panel.

    Attributes
    ----------
    panel
        Panel name.
    protocol
        The protocol used.
    records
        Long readout records (``sample_id, readout, value, kind, unit, flag,
        panel, population, parent, marker, statistic, catalogue_id``).
    populations
        One row per sample and population (``sample_id, population, name,
        parent, count, parent_count, pct_parent, pct_total``).
    qc
        Acquisition and event-count checks (``sample_id, check, value, limit, passed``).
    failures
        Sample id -> why it could not be quantified.
    resolved
        Sample id -> its concrete gate tree (GatingML-exportable).
    gates
        Sample id -> gate label -> what was resolved (provenance record).
    plots
        Sample id -> gate plot PNG (still being drawn while ``plotting`` is set).
    provenance
        What was read and decided (:class:`PanelProvenance`), for the run's record.
    plotting
        The gate plots being drawn in the background (``quantify_panel(...,
        background_plots=True)``), else None; :meth:`wait_plots` waits for them.
    """

    panel: str
    protocol: Protocol | None
    records: pd.DataFrame
    populations: pd.DataFrame
    qc: pd.DataFrame
    failures: dict[str, str]
    resolved: dict[str, GateTree]
    gates: dict[str, dict[str, Any]] = field(default_factory=dict)
    plots: dict[str, Path] = field(default_factory=dict)
    provenance: PanelProvenance | None = None
    plotting: Forked | None = field(default=None, repr=False)

    def wait_plots(self) -> dict[str, Path]:
        """Wait for gate plots drawn in the background (if any) and return :attr:`plots`."""
        if self.plotting is not None:
            self.plotting.wait()
            self.plotting = None
        return self.plots

    def write_gatingml(self, folder: str | PathLike[str]) -> dict[str, Path]:
        """Write every sample's resolved tree as ``<folder>/<sample>_<panel>.xml`` (GatingML 2.0)."""
        out = {}
        for sid, tree in self.resolved.items():
            path = Path(folder) / f"{safe_id(sid)}_{self.panel}.xml"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_gatingml(tree, path)
            out[sid] = path
        return out
