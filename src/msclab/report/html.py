"""Render the analysis report: one self-contained HTML file a wet-lab scientist can read."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any, Protocol

import jinja2
import numpy as np
import pandas as pd

from .._files import atomic_write
from .forest import ARROWS, VERDICT_COLOURS, forest_png


class ReportData(Protocol):
    """What the report reads: the experiment, the output tables and the plot files.

    Any object with these attributes can be rendered (an analysis result of
    :func:`msclab.analyze`, or one assembled by ``msclab batch``); the report
    does not import the pipeline.
    """

    experiment: Any
    readouts: Any
    populations: pd.DataFrame
    concentrations: pd.DataFrame
    curves: pd.DataFrame
    effects: pd.DataFrame
    trends: pd.DataFrame
    comparison: Any
    failures: pd.DataFrame
    plots: dict[str, list[Path]]
    provenance: Any

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("msclab.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _table(frame: pd.DataFrame, columns: list[str] | None = None, digits: int = 3) -> str:
    """An HTML table of selected columns, numbers rounded; empty string for an empty frame."""
    if frame is None or frame.empty:
        return ""
    shown = frame[[c for c in (columns or list(frame.columns)) if c in frame.columns]]
    return shown.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.{digits}g}", classes="data",
                         border=0, escape=True)


def _low_event_populations(result: ReportData) -> pd.DataFrame:
    pops = result.populations
    if pops.empty or "count" not in pops:
        return pd.DataFrame()
    return pops[pops["count"] < 100].sort_values("count")


def _mapped_trends(result: ReportData) -> pd.DataFrame:
    """Dose trends of the readouts that map to a catalogue effect."""
    trends = result.trends
    if trends.empty:
        return trends
    ids = result.readouts.var["catalogue_id"]
    trends = trends.assign(catalogue_id=trends["readout"].map(ids))
    return trends[trends["catalogue_id"].fillna("") != ""]


def _images(paths: list[Path], limit: int | None, panels: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """Images as data URIs; with ``panels``, each gate plot (``<sample>_<panel>.png``) names its panel."""
    out = []
    for p in paths[:limit]:
        if p.is_file():
            panel = next((name for name in sorted(panels, key=len, reverse=True) if p.stem.endswith(f"_{name}")), "")
            out.append({"name": p.stem, "uri": _data_uri(p.read_bytes()), "panel": panel})
    return out


def _flag_order() -> dict[str, int]:
    """Order of the gate-confidence flags in the report: that of :data:`msclab.flow.qc.GATE_FLAGS` (review first)."""
    from ..flow.qc import GATE_FLAGS

    return {flag: i for i, flag in enumerate(GATE_FLAGS)}


def _gate_confidence(result: ReportData) -> dict[str, Any]:
    """The gate-confidence section: counts, and per panel the flagged gates (sample, gate, confidence, reason).

    Read from the gating provenance, so any :class:`ReportData` with a
    provenance has it.
    """
    from ..flow.qc import gate_qc_from_provenance

    gating = result.provenance.steps.get("gating", {}) if result.provenance else {}
    table = gate_qc_from_provenance(gating)
    order = _flag_order()
    flags = table["flag"].fillna("")
    flagged = table[flags != ""].assign(order=flags[flags != ""].map(order).fillna(len(order)))
    panels = []
    for panel, rows in flagged.groupby("panel", sort=False):
        rows = rows.sort_values(["order", "confidence", "gate", "sample_id"], na_position="last")
        counts = rows["flag"].value_counts().to_dict()
        by_gate = (rows.groupby(["gate", "flag"], sort=False)
                   .agg(samples=("sample_id", "nunique"), lowest=("confidence", "min"),
                        highest=("confidence", "max"), reason=("reason", "first")).reset_index())
        panels.append({"panel": panel, "counts": counts, "n": len(rows), "summary": _table(by_gate, digits=2),
                       "table": _table(rows, ["sample_id", "gate", "method", "confidence", "flag", "reason"], 2)})
    return {"n_checked": int(table["confidence"].notna().sum()), "n_samples": int(table["sample_id"].nunique()),
            "counts": {flag: int((flags == flag).sum()) for flag in order}, "panels": panels}


def _catalogue(exp):
    from ..catalogue import load_catalogue

    return load_catalogue(exp.root / exp.spec.catalogue if exp.spec.catalogue else None)


def _references(exp, measured: pd.DataFrame) -> list[dict[str, str]]:
    """The catalogue references cited in the comparison, with their citation and DOI link."""
    if not len(measured) or "references" not in measured:
        return []
    catalogue = _catalogue(exp)
    keys = []
    for text in measured["references"].dropna().astype(str):
        keys += [k.replace(" (unverified)", "").strip() for k in text.split(";") if k.strip()]
    out = []
    for key in dict.fromkeys(keys):
        ref = catalogue.references.get(key)
        if ref is None:
            continue
        out.append({"key": key, "citation": ref.citation(), "url": f"https://doi.org/{ref.doi}" if ref.doi else
                    (f"https://pubmed.ncbi.nlm.nih.gov/{ref.pmid}/" if ref.pmid else "")})
    return out


def _linked_references(table_html: str, references: list[dict[str, str]]) -> str:
    """Turn each reference key in the comparison table into a link to its entry in the reference list."""
    for ref in sorted(references, key=lambda r: -len(r["key"])):
        table_html = re.sub(rf"(?<![\w#-]){re.escape(ref['key'])}(?![\w-])",
                            f'<a href="#ref-{ref["key"]}">{ref["key"]}</a>', table_html)
    return table_html


def _scoring(exp) -> dict[str, float]:
    """The catalogue's thresholds for a verdict (``scoring``)."""
    scoring = _catalogue(exp).scoring
    return {"log2": float(scoring.log2fc_consistent), "suppression": float(scoring.suppression_consistent)}


def _discovery(result: ReportData) -> list[dict[str, Any]]:
    """The discovery section's panels (figures as data URIs, tables as HTML); empty when discovery did not run."""
    from .discovery import discovery_sections

    if result.provenance is None:
        return []
    out = []
    for entry in discovery_sections(result.provenance.steps, result.experiment.samples):
        entry["figures"] = {k: _data_uri(v) for k, v in entry["figures"].items() if v}
        if entry["clusters"] is not None:
            entry["clusters"] = _table(entry["clusters"], ["cluster", "n_events", "annotation", "annotation_confidence",
                                                           "catalogue_id", "rule"])
            found = entry["differential"][entry["differential"]["q_value"] < 0.05]
            entry["differential"] = _table(found, ["contrast", "cluster", "annotation", "log2_ratio", "ci_low",
                                                   "ci_high", "q_value", "n_donors"]) if len(found) else ""
            entry["populations"] = _table(entry["populations"], ["contrast", "annotation", "catalogue_id", "n_clusters",
                                                                 "log2_ratio", "ci_low", "ci_high", "q_value",
                                                                 "n_donors"])
        out.append(entry)
    return out


def _beside_discovery(comparison: Any) -> str:
    """The comparison rows with a discovery estimate beside the gated one (empty when discovery gave none)."""
    table = comparison.table
    if "agreement" not in table.columns:
        return ""
    rows = table[table["agreement"].fillna("").astype(str) != ""]
    return _table(rows, ["effect_id", "contrast", "readout", "expected", "observed", "ci_low", "ci_high", "q_value",
                         "discovery_panel", "discovery_population", "discovery_log2_ratio", "discovery_ci_low",
                         "discovery_ci_high", "discovery_q_value", "agreement"])


def render_report(result: ReportData, forest: bytes | None = None) -> str:
    """Return the report as an HTML string.

    Parameters
    ----------
    result
        The analysis.
    forest
        The forest plot's PNG (:func:`~msclab.report.forest.forest_png`) when it was
        drawn already; None: drawn here.
    """
    exp = result.experiment
    comparison = result.comparison
    measured = comparison.table[comparison.table["verdict"] != "not_measured"] if len(comparison.table) else comparison.table
    if forest is None and len(comparison.table):
        forest = forest_png(comparison.table)
    samples = exp.samples
    obs = result.readouts.obs
    failed = obs[obs["status"] != "ok"][["sample_id", "status", "status_reason"]] if "sample_id" in obs else obs[obs["status"] != "ok"]
    verdict_counts = measured["verdict"].value_counts().to_dict() if len(measured) else {}
    references = _references(exp, measured)
    context = {
        "title": exp.spec.name,
        "description": exp.spec.description,
        "context": exp.spec.context,
        "n_samples": len(samples),
        "n_donors": samples["donor"].nunique(),
        "n_files": len(exp.files()),
        "n_assays": len(exp.spec.assays),
        "conditions": samples.groupby(["condition", "msc_ratio", "stimulus"], dropna=False).size()
        .rename("samples").reset_index().to_html(index=False, classes="data", border=0),
        "summary": comparison.summary,
        "score": None if comparison.score is None or np.isnan(comparison.score) else f"{comparison.score:.2f}",
        "score_ci": "" if np.isnan(comparison.ci[0]) else f"{comparison.ci[0]:.2f} to {comparison.ci[1]:.2f}",
        "verdict_counts": verdict_counts,
        "colours": VERDICT_COLOURS,
        "arrows": ARROWS,
        "forest": _data_uri(forest) if forest else None,
        "comparison_table": _linked_references(_table(measured, ["effect_id", "contrast", "readout", "expected",
                                                                 "observed", "ci_low", "ci_high", "verdict", "evidence",
                                                                 "modifiers", "reason", "references"]), references),
        "beside_discovery": _beside_discovery(comparison),
        "references": references,
        "scoring": _scoring(exp),
        "normalisation": (result.provenance.steps.get("normalisation", {}) if result.provenance else {}),
        "effects_table": _table(result.effects, ["readout", "contrast", "estimate", "ci_low", "ci_high", "p_value",
                                                 "q_value", "n_donors", "unit", "scale"]),
        "trends_table": _table(_mapped_trends(result), ["readout", "catalogue_id", "contrast", "levels", "n_donors",
                                                        "slope", "slope_ci_low", "slope_ci_high", "p_slope", "q_slope"]),
        "failed_table": _table(failed),
        "failures_table": _table(result.failures),
        "warnings": result.warnings,
        "gate_confidence": _gate_confidence(result),
        "low_events_table": _table(_low_event_populations(result)),
        "curves_table": _table(result.curves, ["assay", "plate", "analyte", "model", "weighting", "lloq", "uloq",
                                               "accepted", "reason"]),
        "flag_counts": _table(result.concentrations.groupby(["analyte", "flag"]).size().rename("wells").reset_index())
        if len(result.concentrations) else "",
        "gate_images": _images(result.plots.get("gates", []), None, tuple(exp.spec.panels)),
        "n_gate_plots": len(result.plots.get("gates", [])),
        "curve_images": _images(result.plots.get("curves", []), 64),
        "populations_table": _table(result.populations.head(400)),
        "provenance": result.provenance.to_dict() if result.provenance else {},
        "discovery": _discovery(result),
    }
    return _ENV.get_template("report.html.j2").render(**context)


def write_report(result: ReportData, path: Path, forest: bytes | None = None) -> Path:
    """Write ``report.html`` atomically (``forest``: see :func:`render_report`)."""
    with atomic_write(path) as handle:
        handle.write(render_report(result, forest))
    return path
