"""Quantify a panel gated by a fixed strategy: a GatingML 2.0 file or a FlowJo workspace.

The gates are the ones the file states (no data-driven resolution), applied
by msclab's engine file by file. Population frequencies become readouts
``flow:<panel>:<population path>:pct_parent``; which catalogue effect a
population informs is the experiment's ``catalogue_mapping`` to say.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import MsclabError
from .gating.run import gate_files
from .gating.strategy import read_strategy
from .populations import POPULATION_COLUMNS
from .qc import MIN_EVENTS
from .result import PanelProvenance, PanelResult


def quantify_fixed_panel(experiment, panel_name: str, *, min_events: int = MIN_EVENTS) -> PanelResult:
    """Gate every file of a panel with the panel's GatingML/FlowJo file.

    Returns
    -------
    PanelResult
        With ``protocol=None``, no plots and no resolved trees (the strategy file is the record:
        its provenance fragment lists it as an input, with every FCS leniency).
    """
    panel = experiment.spec.panels[panel_name]
    path = experiment.root / panel.protocol
    strategy = read_strategy(path)
    record = PanelProvenance(panel_name, inputs=[(str(path), f"strategy:{panel_name}")])
    rows = experiment.files(panel_name)
    by_file = {Path(f).name: s for f, s in zip(rows["file"], rows["sample_id"], strict=True)}
    if rows.empty:
        raise MsclabError(f"panel {panel_name!r} has no files", file=path)
    failures, tables = {}, []
    for gated in gate_files(rows["file"], strategy):
        sample_id = by_file[gated.path.name]
        record.leniencies += [(str(gated.path), note) for note in gated.leniencies]
        if gated.error is not None:
            failures[sample_id] = gated.error
            continue
        tables.append(gated.table.assign(sample_id=sample_id))
    populations = _population_columns(pd.concat(tables, ignore_index=True)) if tables else pd.DataFrame()
    readouts = [
        {"sample_id": row.sample_id, "readout": f"flow:{panel_name}:{row.population}:pct_parent",
         "value": row.pct_parent, "kind": "frequency", "unit": "%",
         "flag": "low_events" if row.parent_count < min_events else "ok", "panel": panel_name,
         "population": row.population, "parent": row.parent, "marker": "", "statistic": "pct_parent",
         "catalogue_id": ""}
        for row in populations.itertuples()
    ] if len(populations) else []
    return PanelResult(panel=panel_name, protocol=None, records=pd.DataFrame(readouts), populations=populations,
                       qc=pd.DataFrame(), failures=failures, resolved={}, provenance=record)


def _population_columns(table: pd.DataFrame) -> pd.DataFrame:
    """The engine's per-population table in the columns of every panel (:data:`POPULATION_COLUMNS`)."""
    table = table.assign(name=table["population"].str.rsplit("/", n=1).str[-1])
    return table[list(POPULATION_COLUMNS)]
