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
small, carry the ``low_events`` flag. Frequencies and intensities of a
population gated (itself or above it) by a control-based threshold that had no
control sample and fell back to a data-driven one carry ``control_fallback``
(and are listed in provenance ``steps.control_fallbacks``). In an FMO control,
populations gated on the omitted marker are not reported (the control cannot
measure them).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import MsclabError
from ..io import open_fcs
from .batch_normalisation import normalise_events
from .gating.gates import BooleanGate
from .fixed import quantify_fixed_panel
from .result import PanelProvenance, PanelResult
from .overrides import apply_panel_overrides
from .plots import plot_samples, start_plots
from .populations import POPULATION_COLUMNS, marker_statistics, population_table
from .protocols.loader import is_strategy_file, load_protocol
from .protocols.resolve import ResolvedSample, resolve_protocol
from .protocols.sample import SampleEvents, safe_id
from .protocols.schema import DividedGate, Protocol, QuadrantSpec
from .qc import MIN_EVENTS, QC_COLUMNS, acquisition_qc, population_qc

_PROLIFERATION_UNITS = {"pct_divided": "%", "precursor_pct_divided": "%", "division_index": "divisions",
                        "proliferation_index": "divisions"}


def quantify_panel(experiment, panel_name: str, *, plots_dir: str | PathLike[str] | None = None,
                   provenance=None, min_events: int = MIN_EVENTS, background_plots: bool = False) -> PanelResult:
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
        A :class:`msclab.provenance.Provenance` to record the result's
        :class:`~msclab.flow.result.PanelProvenance` in (inputs, leniencies,
        ``steps['gating'][panel]`` with every resolved gate); the same
        fragment is ``result.provenance``.
    min_events
        Event count below which values are flagged ``low_events``.
    background_plots
        Draw the gate plots in background processes and return at once
        (``result.plots`` names the files, ``result.wait_plots()`` waits for
        them); ``msclab analyze`` does so to overlap them with the rest of the
        analysis.

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
        result = quantify_fixed_panel(experiment, panel_name, min_events=min_events)
        result.populations["override"] = False  # overrides are for protocol panels (validate refuses others)
    else:
        result = _quantify_protocol_panel(experiment, panel_name, plots_dir, min_events, background_plots)
    if provenance is not None:
        provenance.record(result.provenance)
    return result


def _quantify_protocol_panel(experiment, panel_name: str, plots_dir: str | PathLike[str] | None,
                             min_events: int, background_plots: bool = False) -> PanelResult:
    panel = experiment.spec.panels[panel_name]
    protocol = load_protocol(panel.protocol or panel_name, base=experiment.root)
    record = PanelProvenance(panel_name)
    samples, failures = _read_samples(experiment, panel_name, panel.markers, protocol, record)
    if panel.normalisation is not None:
        samples, unnormalised, record.normalisation = normalise_events(samples, panel.normalisation)
        failures.update(unnormalised)
    resolution = resolve_protocol(protocol, samples, panel_controls=panel.controls)
    failures.update(resolution.failures)
    record.gate_overrides = apply_panel_overrides(experiment, panel_name, resolution.samples, failures)

    tables, qcs, records = [], [], []
    for rs in resolution.samples.values():
        table = population_table(rs).assign(override=rs.events.sample_id in record.gate_overrides)
        tables.append(table)
        qcs += [acquisition_qc(rs.events), population_qc(table, min_events)]
        records += _records(rs, table, protocol, panel_name, min_events)
    plots, plotting = {}, None
    if plots_dir is not None:
        jobs = [(rs, Path(plots_dir) / f"{safe_id(sid)}_{panel_name}.png", f"{sid} - {panel_name}")
                for sid, rs in resolution.samples.items()]
        if background_plots:
            plotting = start_plots(jobs)
            plots = {sid: Path(path) for sid, (_, path, _) in zip(resolution.samples, jobs, strict=True)}
        else:
            plots = dict(zip(resolution.samples, plot_samples(jobs), strict=True))
    gates = {sid: rs.gates for sid, rs in resolution.samples.items()}
    record.control_fallbacks = [{"sample_id": sid, "panel": panel_name, "population": name, "note": note}
                                for sid, rs in resolution.samples.items()
                                for name, note in fallback_gates(rs).items()]
    record.gating = {
        "protocol": protocol.name, "protocol_source": panel.protocol or panel_name,
        "transforms": protocol.transforms.model_dump(), "samples": gates, "failures": failures,
        "skipped": {sid: dict(rs.skipped) for sid, rs in resolution.samples.items() if rs.skipped}}
    return PanelResult(
        panel=panel_name, protocol=protocol,
        records=pd.DataFrame(records, columns=["sample_id", "readout", "value", "kind", "unit", "flag", "panel",
                                               "population", "parent", "marker", "statistic", "catalogue_id"]),
        populations=pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=list(POPULATION_COLUMNS)),
        qc=pd.concat(qcs, ignore_index=True) if qcs else pd.DataFrame(columns=list(QC_COLUMNS)),
        failures=failures, resolved={sid: rs.tree for sid, rs in resolution.samples.items()}, gates=gates,
        plots=plots, provenance=record, plotting=plotting,
    )


def _read_samples(experiment, panel_name: str, markers: dict[str, str], protocol: Protocol,
                  record: PanelProvenance) -> tuple[dict[str, SampleEvents], dict[str, str]]:
    samples, failures = {}, {}
    for row in experiment.files(panel_name).to_dict("records"):
        sid = str(row["sample_id"])
        try:
            fcs = open_fcs(row["file"])
            samples[sid] = SampleEvents.from_fcs(fcs, sid, markers, info=row, scale=protocol.transforms)
        except (MsclabError, OSError) as exc:
            failures[sid] = f"cannot read {row['file']}: {getattr(exc, 'message', None) or exc}"
            continue
        record.inputs.append((str(row["file"]), f"fcs:{panel_name}"))
        record.leniencies += [(str(row["file"]), str(what)) for what in fcs.leniencies]
    return samples, failures


def _report_specs(protocol: Protocol) -> dict[str, Any]:
    """Population name -> the spec that reports it (gate or quadrant)."""
    out: dict[str, Any] = {}
    for gate in protocol.gates:
        if isinstance(gate, QuadrantSpec):
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

    fell_back = fallback_gates(rs)
    for row in table.itertuples(index=False):
        spec = specs[row.name]
        if not spec.report or (omitted and _depends_on(rs, row.name, omitted)):
            continue
        ok = CONTROL_FALLBACK if fell_back and _inherits(rs, row.name, fell_back) else "ok"
        low = "low_events" if row.parent_count < min_events else ok
        catalogue = None if isinstance(spec, DividedGate) else spec.catalogue_id
        add(row.population, row.parent, "pct_parent", row.pct_parent, "frequency", "%", low, catalogue_id=catalogue)
        add(row.population, row.parent, "pct_total", row.pct_total, "frequency", "%", low)
        add(row.population, row.parent, "count", float(row.count), "count", "events",
            "low_events" if row.count < min_events else "ok")
        for marker, stats in marker_statistics(rs, row.name, spec.mfi).items():
            name = rs.events.markers.get(rs.events.channel(marker), marker)
            for stat, value in stats.items():
                add(row.population, row.parent, f"{stat}:{name}", value, "mfi", "a.u.",
                    "low_events" if row.count < min_events else ok, marker=name)
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


#: Flag of readouts whose control-based threshold had no control and fell back to a data-driven one.
CONTROL_FALLBACK = "control_fallback"


def fallback_gates(rs: ResolvedSample) -> dict[str, str]:
    """Population name -> note, for the gates whose control-based threshold fell back (no control sample)."""
    out: dict[str, str] = {}

    def notes(record: object) -> list[str]:
        if isinstance(record, dict):
            found = [str(record["note"])] if "fell back" in str(record.get("note", "")) else []
            return found + [n for v in record.values() for n in notes(v)]
        return []

    for label, record in rs.gates.items():
        found = notes(record)
        if found:
            for name in label.split(","):
                if name in rs.ids:
                    out[name] = "; ".join(dict.fromkeys(found))
    return out


def _inherits(rs: ResolvedSample, name: str, affected: dict[str, str]) -> bool:
    """True when a population, an operand or an ancestor is in ``affected``."""
    names = {pid: n for n, pid in rs.ids.items()}
    todo, seen = [rs.ids[name]], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        if names.get(pid) in affected:
            return True
        pop = rs.tree.populations[pid]
        if isinstance(pop.gate, BooleanGate):
            todo += [ref for ref, _ in pop.gate.operands]
        if pop.parent is not None and pop.parent in names:
            todo.append(pop.parent)
    return False


def _omitted_channel(rs: ResolvedSample) -> str | None:
    """The channel an FMO control leaves unstained, or None."""
    info = rs.events.info
    if str(info.get("control_type", "") or "") != "fmo" or not info.get("control_for"):
        return None
    return rs.events.index.find(str(info["control_for"]))


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
