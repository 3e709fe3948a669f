"""Quantify one panel of an experiment: read, gate by protocol, count, and emit readout records.

:func:`quantify_panel` is the one entry point of flow quantification: ``msclab
analyze`` calls it per panel and ``msclab batch`` per group of samples. A panel
whose ``protocol`` is a GatingML 2.0 file or a FlowJo workspace is gated by
that file's fixed gates (:func:`msclab.flow.fixed.quantify_fixed_panel`);
otherwise the msclab protocol is resolved on the data. For a protocol it reads
every file of the panel (a file that cannot be read fails only its sample),
resolves the panel's protocol on all samples together (so thresholds can come
from each donor's FMO or unstimulated control), and returns long readout
records for :func:`msclab.readouts.build_readouts`, the population table,
acquisition QC, the per-sample concrete gate trees and, optionally, gate plots.

Readout ids are ``flow:<panel>:<population path>:<statistic>`` with statistic
``pct_parent``, ``pct_total``, ``count``, ``median:<marker>``,
``mean:<marker>``, and on a population with a ``divided`` gate
``pct_divided``, ``precursor_pct_divided``, ``division_index`` and
``proliferation_index``. Frequencies whose parent has fewer than
:data:`~msclab.flow.qc.MIN_EVENTS` events, and intensities of populations that
small, carry the ``low_events`` flag. In an FMO control, populations gated on
the omitted marker are not reported (the control cannot measure them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import MsclabError
from ..io import open_fcs
from .gating.gates import BooleanGate
from .fixed import is_strategy_file, quantify_fixed_panel
from .gating.gatingml import write_gatingml
from .gating.overrides import apply_panel_overrides
from .gating.tree import GateTree
from .plots import plot_samples
from .populations import POPULATION_COLUMNS, marker_statistics, population_table
from .protocols.loader import load_protocol
from .protocols.resolve import ResolvedSample, resolve_protocol
from .protocols.sample import SampleEvents, normalise_marker, safe_id
from .protocols.schema import DividedGate, Protocol, QuadrantGate
from .qc import MIN_EVENTS, QC_COLUMNS, acquisition_qc, population_qc

_PROLIFERATION_UNITS = {"pct_divided": "%", "precursor_pct_divided": "%", "division_index": "divisions",
                        "proliferation_index": "divisions"}


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


def quantify_panel(experiment, panel_name: str, *, plots_dir: str | PathLike[str] | None = None,
                   provenance=None, min_events: int = MIN_EVENTS) -> PanelResult:
    """Gate and quantify every sample of one panel.

    Parameters
    ----------
    experiment
        A :class:`msclab.experiment.Experiment`.
    panel_name
        A panel of ``experiment.spec.panels``.
    plots_dir
        If given, one gate plot per sample is written there
        (``<sample>_<panel>.png``).
    provenance
        A :class:`msclab.provenance.Provenance` to record inputs, leniencies
        and every resolved gate in (``steps['gating'][panel]``).
    min_events
        Event count below which values are flagged ``low_events``.

    Returns
    -------
    PanelResult

    Raises
    ------
    MsclabError
        Unknown panel or protocol (bad input, not a bad sample).
    """
    panel = experiment.spec.panels.get(panel_name)
    if panel is None:
        raise MsclabError(f"experiment has no panel {panel_name!r}",
                          hint=f"Its panels are: {', '.join(experiment.spec.panels)}.")
    if is_strategy_file(panel.protocol):
        result = quantify_fixed_panel(experiment, panel_name, provenance=provenance, min_events=min_events)
        result.populations["override"] = False  # overrides are for protocol panels (validate refuses others)
        return result
    protocol = load_protocol(panel.protocol or panel_name, base=experiment.root)
    samples, failures = _read_samples(experiment, panel_name, panel.markers, protocol, provenance)
    resolution = resolve_protocol(protocol, samples, panel_controls=panel.controls)
    failures.update(resolution.failures)
    overridden = apply_panel_overrides(experiment, panel_name, resolution.samples, failures, provenance)

    tables, qcs, records = [], [], []
    for rs in resolution.samples.values():
        table = population_table(rs).assign(override=rs.events.sample_id in overridden)
        tables.append(table)
        qcs += [acquisition_qc(rs.events), population_qc(table, min_events)]
        records += _records(rs, table, protocol, panel_name, min_events)
    plots = {}
    if plots_dir is not None:
        jobs = [(rs, Path(plots_dir) / f"{safe_id(sid)}_{panel_name}.png", f"{sid} - {panel_name}")
                for sid, rs in resolution.samples.items()]
        plots = dict(zip(resolution.samples, plot_samples(jobs), strict=True))
    gates = {sid: rs.gates for sid, rs in resolution.samples.items()}
    if provenance is not None:
        provenance.steps.setdefault("gating", {})[panel_name] = {
            "protocol": protocol.name, "protocol_source": panel.protocol or panel_name,
            "transforms": protocol.transforms.model_dump(), "samples": gates, "failures": failures}
    return PanelResult(
        panel=panel_name, protocol=protocol,
        records=pd.DataFrame(records, columns=["sample_id", "readout", "value", "kind", "unit", "flag", "panel",
                                               "population", "parent", "marker", "statistic", "catalogue_id"]),
        populations=pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=list(POPULATION_COLUMNS)),
        qc=pd.concat(qcs, ignore_index=True) if qcs else pd.DataFrame(columns=list(QC_COLUMNS)),
        failures=failures, resolved={sid: rs.tree for sid, rs in resolution.samples.items()}, gates=gates,
        plots=plots,
    )


def _read_samples(experiment, panel_name: str, markers: dict[str, str], protocol: Protocol,
                  provenance) -> tuple[dict[str, SampleEvents], dict[str, str]]:
    samples, failures = {}, {}
    for row in experiment.files(panel_name).to_dict("records"):
        sid = str(row["sample_id"])
        try:
            fcs = open_fcs(row["file"])
            samples[sid] = SampleEvents.from_fcs(fcs, sid, markers, info=row, scale=protocol.transforms)
        except (MsclabError, OSError) as exc:
            failures[sid] = f"cannot read {row['file']}: {getattr(exc, 'message', None) or exc}"
            continue
        if provenance is not None:
            provenance.add_input(row["file"], role=f"fcs:{panel_name}")
            for what in fcs.leniencies:
                provenance.add_leniency(row["file"], str(what))
    return samples, failures


def _report_specs(protocol: Protocol) -> dict[str, Any]:
    """Population name -> the spec that reports it (gate or quadrant)."""
    out: dict[str, Any] = {}
    for gate in protocol.gates:
        if isinstance(gate, QuadrantGate):
            out.update({q.name: q for q in gate.quadrants})
        else:
            out[gate.name] = gate
    return out


def _records(rs: ResolvedSample, table: pd.DataFrame, protocol: Protocol, panel: str,
             min_events: int) -> list[dict[str, Any]]:
    specs = _report_specs(protocol)
    omitted = _omitted_channel(rs)
    rows = []

    def add(population: str, parent: str, statistic: str, value: float, kind: str, unit: str, flag: str,
            marker: str = "", catalogue_id: str | None = None) -> None:
        rows.append({"sample_id": rs.events.sample_id, "readout": f"flow:{panel}:{population}:{statistic}",
                     "value": value, "kind": kind, "unit": unit, "flag": flag, "panel": panel,
                     "population": population, "parent": parent, "marker": marker, "statistic": statistic,
                     "catalogue_id": catalogue_id or ""})

    for row in table.itertuples(index=False):
        spec = specs[row.name]
        if not spec.report or (omitted and _depends_on(rs, row.name, omitted)):
            continue
        low = "low_events" if row.parent_count < min_events else "ok"
        catalogue = None if isinstance(spec, DividedGate) else spec.catalogue_id
        add(row.population, row.parent, "pct_parent", row.pct_parent, "frequency", "%", low, catalogue_id=catalogue)
        add(row.population, row.parent, "pct_total", row.pct_total, "frequency", "%", low)
        add(row.population, row.parent, "count", float(row.count), "count", "events",
            "low_events" if row.count < min_events else "ok")
        for marker, stats in marker_statistics(rs, row.name, spec.mfi).items():
            name = rs.events.markers.get(rs.events.channel(marker), marker)
            for stat, value in stats.items():
                add(row.population, row.parent, f"{stat}:{name}", value, "mfi", "a.u.",
                    "low_events" if row.count < min_events else "ok", marker=name)
    by_name = table.set_index("name")
    for parent_name, fit in rs.proliferation.items():
        spec = next(g for g in protocol.gates if isinstance(g, DividedGate) and g.parent == parent_name)
        if not spec.report:
            continue
        row = by_name.loc[parent_name]
        flag = "low_events" if row["count"] < min_events else "ok"
        for stat, value in fit.statistics().items():
            add(row["population"], row["parent"], stat, value, "proliferation", _PROLIFERATION_UNITS[stat], flag,
                marker=rs.events.markers.get(rs.events.channel(spec.x), spec.x),
                catalogue_id=spec.catalogue_id if stat == "pct_divided" else None)
    return rows


def _omitted_channel(rs: ResolvedSample) -> str | None:
    """The channel an FMO control leaves unstained, or None."""
    info = rs.events.info
    if str(info.get("control_type", "") or "") != "fmo" or not info.get("control_for"):
        return None
    key = normalise_marker(str(info["control_for"]))
    return next((ch for ch, m in rs.events.markers.items() if normalise_marker(m) == key), None)


def _depends_on(rs: ResolvedSample, name: str, channel: str) -> bool:
    """True when a population's gate, an operand or an ancestor reads ``channel``."""
    ids = {pid: n for n, pid in rs.ids.items()}
    todo = [rs.ids[name]]
    seen = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        pop = rs.tree.populations[pid]
        if isinstance(pop.gate, BooleanGate):
            todo += [ref for ref, _ in pop.gate.operands]
        elif any(d.name == channel for d in pop.shape.dimensions):
            return True
        if pop.parent is not None and pop.parent in ids:
            todo.append(pop.parent)
    return False
