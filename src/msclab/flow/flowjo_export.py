"""Export a panel's resolved (and overridden) gates as a FlowJo 10 workspace.

One ``.wsp`` per panel holds every gated sample of the panel: its FCS file,
the spillover matrix its gates use (the file's own, FlowJo's
``Acquisition-defined``), one transform per gated channel, and the sample's own
gate tree (data-driven gates differ per sample) with msclab's event counts.
A FlowJo user opens it beside the FCS files and sees msclab's gating; FlowJo,
FlowKit and msclab's own reader (:func:`msclab.flow.gating.read_workspace`)
gate the same events (tested in ``tests/review/test_flowjo_export.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path

import pandas as pd

from .gating.tree import GateTree
from .gating.workspace_write import WorkspaceSample, write_workspace


def read_trees(files: Mapping[str, str | PathLike[str]]) -> dict[str, GateTree]:
    """Sample id -> gate tree, from the Gating-ML files ``analyze`` wrote (``steps.resolved_gates.<panel>``)."""
    from .gating.gatingml import read_gatingml

    return {sid: read_gatingml(path) for sid, path in files.items()}


def write_panel_workspace(experiment, panel: str, trees: Mapping[str, GateTree], populations: pd.DataFrame,
                          path: str | PathLike[str]) -> Path:
    """Write the gate trees of one panel's samples as a FlowJo workspace.

    Parameters
    ----------
    experiment
        The :class:`msclab.experiment.Experiment` (it names each sample's FCS file).
    panel
        The panel name (also the workspace's sample group).
    trees
        Sample id -> the gate tree the sample was gated with (its override, if any).
    populations
        The population table (``sample_id, population, count``; a ``panel``
        column, if present, is filtered on) giving each node's count.
    path
        The ``.wsp`` file to write.

    Raises
    ------
    MsclabError
        A gate or transform FlowJo cannot store, or an unreadable FCS file.
    """
    from ..io import open_fcs
    from .compensation import spillover_from_fcs

    files = experiment.files(panel)
    files = dict(zip(files["sample_id"].astype(str), files["file"], strict=True))
    table = populations
    if "panel" in table.columns:
        table = table[table["panel"] == panel]
    samples = []
    for sid, tree in trees.items():
        fcs_path = Path(files[sid])
        fcs_path = fcs_path if fcs_path.is_absolute() else experiment.root / fcs_path
        fcs = open_fcs(fcs_path)
        rows = table[table["sample_id"].astype(str) == sid]
        samples.append(WorkspaceSample(
            name=fcs_path.name, fcs=fcs_path, tree=tree, channels=[str(c) for c in fcs.var.index],
            markers=[m if isinstance(m, str) and m else None for m in fcs.var["pns"]], n_events=fcs.n_events,
            spillover=spillover_from_fcs(fcs), keywords=fcs.keywords,
            counts=dict(zip(rows["population"], rows["count"].astype(int), strict=True))))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_workspace(samples, target, group=panel)
    return target
