"""The result of quantifying one panel: :class:`PanelResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from .gating.gatingml import write_gatingml
from .gating.tree import GateTree
from .protocols.sample import safe_id
from .protocols.schema import Protocol


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
        Sample id -> gate plot PNG.
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

    def write_gatingml(self, folder: str | PathLike[str]) -> dict[str, Path]:
        """Write every sample's resolved tree as ``<folder>/<sample>_<panel>.xml`` (GatingML 2.0)."""
        out = {}
        for sid, tree in self.resolved.items():
            path = Path(folder) / f"{safe_id(sid)}_{self.panel}.xml"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_gatingml(tree, path)
            out[sid] = path
        return out
