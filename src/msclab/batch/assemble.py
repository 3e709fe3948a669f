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

from ..assay.quantify import AssayResult
from ..compare import score
from ..compare.analytes import catalogue_id_for_analyte
from ..experiment import Experiment
from ..pipeline import (
    AnalysisResult, Settings, _calibrate_across_plates, _catalogue, _concat, _mark_failures, write_outputs,
)
from ..provenance import Provenance
from ..readouts import build_readouts
from ..stats import estimate_effects
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


def start_provenance(exp: Experiment, out: Path, settings: Settings) -> Provenance:
    """The provenance record ``analyze`` starts with: parameters and every input with its hash."""
    prov = Provenance("batch", parameters={"experiment": str(exp.path), "out": str(out), **vars(settings)})
    prov.add_input(exp.path, "manifest")
    prov.add_input(exp.root / exp.spec.samplesheet, "samplesheet")
    for file in exp.files()["file"]:
        prov.add_input(file, "fcs")
    for assay in exp.spec.assays:
        prov.add_input(exp.root / assay.file, "assay")
        if assay.layout:
            prov.add_input(exp.root / assay.layout, "layout")
    return prov


def _flow(exp: Experiment, units: Sequence[Unit], cache: Path, prov: Provenance
          ) -> tuple[list[pd.DataFrame], pd.DataFrame, pd.DataFrame, list[dict], list[Path]]:
    records, populations, qc, failures, plots = [], [], [], [], []
    for panel in exp.spec.panels:
        stage = f"flow:{panel}"
        parts = [u for u in units if u.stage == stage]
        if not parts:
            continue
        rec, pops, checks, gates, panel_failures, gatingml = [], [], [], {}, {}, {}
        for unit in parts:
            record, tables = load(cache, unit.key)
            prov_leniencies = record["leniencies"]
            for what in prov_leniencies:
                prov.add_leniency(record["file"], what)
            if record["failure"] is not None:
                panel_failures[unit.sample_id] = record["failure"]
                continue
            rec.append(tables["records"])
            pops.append(tables["populations"])
            checks.append(tables["qc"])
            gates[unit.sample_id] = record["gates"]
            if record["gatingml"]:
                gatingml[unit.sample_id] = record["gatingml"]
            if record["plot"]:
                plots.append(Path(record["plot"]))
        failures += [{"sample_id": s, "stage": stage, "reason": r} for s, r in panel_failures.items()]
        if not rec:
            continue
        records.append(pd.concat(rec, ignore_index=True))
        populations.append(pd.concat(pops, ignore_index=True).assign(panel=panel))
        qc.append(pd.concat(checks, ignore_index=True).assign(panel=panel))
        prov.steps.setdefault("gating", {})[panel] = {
            "protocol_source": exp.spec.panels[panel].protocol or panel, "samples": gates, "failures": panel_failures}
        prov.steps.setdefault("resolved_gates", {})[panel] = gatingml
    return records, _concat(populations), _concat(qc), failures, plots


def _assays(exp: Experiment, units: Sequence[Unit], cache: Path, prov: Provenance
            ) -> tuple[list[pd.DataFrame], pd.DataFrame, pd.DataFrame, list[dict], list[Path]]:
    results, failures, plots = [], [], []
    by_id = {u.stage.split(":", 1)[1]: u for u in units if u.stage.startswith("assay:")}
    for assay in exp.spec.assays:
        record, tables = load(cache, by_id[assay.id].key)
        if record["failure"] is not None:
            failures.append({"sample_id": "", "stage": f"assay:{assay.id}", "reason": record["failure"]})
            continue
        for leniency in record["leniencies"]:
            prov.add_leniency(exp.root / assay.file, leniency)
        prov.steps.setdefault("assays", {})[assay.id] = {"settings": record["settings"],
                                                       "masks": tables["masks"].to_dict("records")}
        plots += [Path(p) for p in record["plots"]]
        results.append((assay.id, AssayResult(tables["wells"], tables["curves"], tables["masks"],
                                              settings=record["settings"])))
    if not results:
        return [], pd.DataFrame(), pd.DataFrame(), failures, plots
    wells = _concat([r.wells.assign(assay=a) for a, r in results])
    empty = (wells["sample_type"] == "unknown") & (wells["sample_id"] == "") & wells["signal"].isna()
    wells = _calibrate_across_plates(wells[~empty], exp, prov)
    curves = _concat([r.curves.assign(assay=a) for a, r in results])
    combined = AssayResult(wells, curves, _concat([r.masks for _, r in results]), settings=results[0][1].settings)
    known = set(exp.samples.index)
    unknown = sorted(set(wells.loc[wells["sample_type"] == "unknown", "sample_id"]) - known - {""})
    if unknown:
        prov.steps["assay_samples_not_in_samplesheet"] = unknown
    records = combined.readout_records()
    records["catalogue_id"] = records["analyte"].map(catalogue_id_for_analyte)
    return [records[records["sample_id"].isin(known)]], wells, curves, failures, plots


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
    prov = start_provenance(exp, out, settings)
    flow_records, populations, flow_qc, flow_failures, flow_plots = _flow(exp, units, cache, prov)
    assay_records, concentrations, curves, assay_failures, curve_plots = _assays(exp, units, cache, prov)
    failures = pd.DataFrame(flow_failures + assay_failures, columns=["sample_id", "stage", "reason"])

    records = [r for r in flow_records + assay_records if len(r)]
    table = pd.concat(records, ignore_index=True) if records else pd.DataFrame()
    readouts = build_readouts(exp.samples, table)
    mapping = exp.spec.catalogue_mapping
    if mapping:
        known = readouts.var.index.intersection(list(mapping))
        readouts.var.loc[known, "catalogue_id"] = [mapping[r] for r in known]
    _mark_failures(readouts, failures)
    readouts.uns["experiment"] = {"name": exp.spec.name, "context": exp.spec.context}

    effects = estimate_effects(readouts, exp.spec.contrasts, n_boot=settings.n_boot, seed=settings.seed)
    comparison = score(effects, _catalogue(exp), exp.spec.context, exp.spec.modifiers, seed=settings.seed)
    prov.steps["comparison"] = {"score": comparison.score, "ci": list(comparison.ci), "summary": comparison.summary}
    result = AnalysisResult(exp, readouts, effects, comparison, populations, concentrations, curves, failures,
                            {"gates": flow_plots, "curves": curve_plots}, prov, flow_qc)
    write_outputs(result, out)
    return result


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
