"""Assemble one experiment from its cached per-sample and per-plate results, as ``msclab analyze`` does.

The flow and assay parts are concatenated in the order ``analyze`` produces
them (panels and samples in samplesheet order, assays in manifest order), the
cross-plate steps run here (bridge-sample calibration, per-sample assay
records), then readouts, effects, the comparison and every output file come
from the same functions as in :mod:`msclab.pipeline`. The result is the same
``readouts.csv``, ``effects.csv`` and ``comparison.csv`` as ``analyze`` writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..assay.quantification import AssayResult
from ..experiment import Experiment
from ..flow.result import PanelProvenance
from ..pipeline import (AnalysisResult, AssayOutcome, FlowOutcome, Settings, combine_assays, concat_frames,
                        finish_analysis, start_provenance)
from ..provenance import Provenance
from .cache import load


@dataclass(frozen=True)
class Unit:
    """One cached piece of an experiment: a flow sample of a panel, or an assay plate.

    Attributes
    ----------
    stage
        ``flow:<panel>`` or ``assay:<assay id>``.
    sample_id
        The sample (flow); empty for an assay plate.
    key
        The cache key of its result.
    """

    stage: str
    sample_id: str
    key: str


def _flow(exp: Experiment, units: Sequence[Unit], cache: Path, prov: Provenance) -> FlowOutcome:
    records, populations, qc, failures, plots = [], [], [], [], []
    for panel in exp.spec.panels:
        stage = f"flow:{panel}"
        parts = [u for u in units if u.stage == stage]
        if not parts:
            continue
        rec, pops, checks, fragments, panel_failures, gatingml = [], [], [], [], {}, {}
        for unit in parts:
            record, tables = load(cache, unit.key)
            fragments.append(PanelProvenance.from_dict(record["provenance"]) if record["provenance"]
                             else PanelProvenance(panel))
            if record["failure"] is not None:
                panel_failures[unit.sample_id] = record["failure"]
                continue
            rec.append(tables["records"])
            pops.append(tables["populations"])
            checks.append(tables["qc"])
            if record["gatingml"]:
                gatingml[unit.sample_id] = record["gatingml"]
            if record["plot"]:
                plots.append(Path(record["plot"]))
        failures += [{"sample_id": s, "stage": stage, "reason": r} for s, r in panel_failures.items()]
        # the samples' fragments joined: the same record analyze makes for the panel
        fragment = PanelProvenance.merge(panel, fragments)
        if fragment.gating is not None:
            fragment.gating["failures"] = panel_failures
        prov.record(fragment)
        if not rec:
            continue
        records.append(pd.concat(rec, ignore_index=True))
        populations.append(pd.concat(pops, ignore_index=True).assign(panel=panel))
        qc.append(pd.concat(checks, ignore_index=True).assign(panel=panel))
        prov.steps.setdefault("resolved_gates", {})[panel] = gatingml
    return FlowOutcome(records, concat_frames(populations), concat_frames(qc), failures, plots)


def _assays(exp: Experiment, units: Sequence[Unit], cache: Path, prov: Provenance) -> AssayOutcome:
    results, failures, plots = [], [], []
    by_id = {u.stage.split(":", 1)[1]: u for u in units if u.stage.startswith("assay:")}
    for assay in exp.spec.assays:
        record, tables = load(cache, by_id[assay.id].key)
        if record["failure"] is not None:
            failures.append({"sample_id": "", "stage": f"assay:{assay.id}", "reason": record["failure"]})
            continue
        for leniency in record["leniencies"]:
            prov.add_leniency(exp.root / assay.file, leniency)
        result = AssayResult(tables["wells"], tables["curves"], tables["masks"], settings=record["settings"])
        prov.record(result.provenance(assay.id))
        plots += [Path(p) for p in record["plots"]]
        results.append((assay.id, result))
    return AssayOutcome(*combine_assays(exp, results, prov), failures, plots)


def assemble(exp: Experiment, units: Sequence[Unit], cache: Path, out: Path, settings: Settings) -> AnalysisResult:
    """Build the experiment's analysis from cached units and write every output to ``out``.

    Parameters
    ----------
    exp
        The experiment.
    units
        Every flow sample and assay plate of the experiment, with its cache key.
    cache
        The folder of cached results.
    out
        The experiment's output folder (``analyze``'s ``-o``).
    settings
        Analysis parameters.
    """
    prov = start_provenance(exp, out, settings, command="batch")
    return finish_analysis(exp, prov, settings, _flow(exp, units, cache, prov), _assays(exp, units, cache, prov), out)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def control_qc(result: AnalysisResult) -> dict[str, Any]:
    """The values cross-plate QC tracks: control samples' populations and standard-curve parameters.

    Returns
    -------
    dict
        ``controls``: one entry per control sample and reported flow
        frequency (``control``, ``sample_id``, ``readout``, ``value``);
        ``curves``: one per plate x analyte (``analyte``, ``plate``,
        ``params``, ``lloq``, ``uloq``, ``accepted``).
    """
    readouts = result.readouts
    obs = readouts.obs
    controls = []
    var = readouts.var
    wanted = [i for i, r in enumerate(var.index) if r.startswith("flow:") and r.endswith(":pct_parent")]
    for row, sid in enumerate(obs.index):
        kind, target = _text(obs["control_type"].iloc[row]), _text(obs["control_for"].iloc[row])
        if not kind:
            continue
        what = f"{kind} {target}".strip()
        for col in wanted:
            value = float(readouts.X[row, col])
            if value == value:
                controls.append({"control": what, "sample_id": str(sid), "readout": var.index[col], "value": value})
    curves = [{"analyte": str(r["analyte"]), "plate": str(r["plate"]), "params": r["params"],
               "lloq": r.get("lloq"), "uloq": r.get("uloq"), "accepted": bool(r.get("accepted", True))}
              for r in result.curves.to_dict("records")] if len(result.curves) else []
    return {"controls": controls, "curves": curves}
