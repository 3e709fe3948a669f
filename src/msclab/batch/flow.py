"""Per-sample flow quantification: one sample (or a few) of a panel, with the controls it needs.

:func:`quantify_samples` is the per-sample entry point the batch runs on a
worker. It restricts the experiment to the target samples and the control
samples they depend on (:mod:`msclab.batch.controls`), runs
:func:`msclab.flow.panel.quantify_panel` on that subset, and keeps the
targets' results. The controls are read and gated again inside the task, so a
task reads only its own few files and needs no other task's output; the
targets get exactly the gates, records and QC they get when the whole panel is
quantified at once (``msclab analyze``). If a control of the subset fails
(whether a target or not), the resolver would have matched another control, so
the subset is widened to every control sample of the panel and the targets are
quantified again.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import MsclabError
from ..experiment import Experiment
from ..flow.gating.gatingml import write_gatingml
from ..flow.panel import PanelResult, quantify_panel
from ..flow.protocols.sample import safe_id
from .controls import all_controls, is_control


@dataclass
class SampleOutcome:
    """One sample of one panel, quantified.

    Attributes
    ----------
    sample_id, panel, file
        Which sample, panel and FCS file.
    failure
        Why the sample could not be quantified, or None.
    records, populations, qc
        The sample's rows of :class:`~msclab.flow.panel.PanelResult`'s tables.
    provenance
        The sample's part of the panel's provenance fragment
        (:meth:`~msclab.flow.result.PanelProvenance.sample`, as plain data):
        resolved gates, skipped gates, fallbacks, override, file leniencies.
    gatingml, plot
        The resolved gate tree (GatingML 2.0) and gate plot written, if any.
    """

    sample_id: str
    panel: str
    file: str
    failure: str | None = None
    records: pd.DataFrame = field(default_factory=pd.DataFrame)
    populations: pd.DataFrame = field(default_factory=pd.DataFrame)
    qc: pd.DataFrame = field(default_factory=pd.DataFrame)
    provenance: dict[str, Any] = field(default_factory=dict)
    gatingml: str | None = None
    plot: str | None = None


def restrict(experiment: Experiment, panel: str, samples: Sequence[str]) -> Experiment:
    """Return the experiment with only ``samples``' files of ``panel`` (nothing else is read).

    A panel with batch normalisation keeps its bridge samples too: every sample's events are moved
    with them before gating.
    """
    sheet = experiment.samplesheet
    bridges = (sheet["control_type"] == "bridge") if experiment.spec.panels[panel].normalisation else False
    keep = (sheet["panel"] == panel) & (sheet["sample_id"].astype(str).isin(set(samples)) | bridges)
    return Experiment(path=experiment.path, spec=experiment.spec, samplesheet=sheet[keep].copy())


def _quantify(experiment: Experiment, panel: str, subset: Sequence[str], plots_dir: Path | None) -> PanelResult:
    return quantify_panel(restrict(experiment, panel, subset), panel, plots_dir=plots_dir)


def quantify_samples(experiment: Experiment, panel: str, targets: Sequence[str], subset: Sequence[str], *,
                     out: Path, plots: bool) -> list[SampleOutcome]:
    """Quantify ``targets`` of one panel, gated together with ``subset`` (their controls).

    Parameters
    ----------
    experiment
        The experiment (its samplesheet may already be limited to what the
        task needs; every control sample of the panel must be in it for the
        fallback).
    panel
        Panel name.
    targets
        Samples whose results are wanted.
    subset
        ``targets`` plus the control samples they depend on
        (:func:`msclab.batch.controls.closure`).
    out
        The experiment's output folder: gate trees go to ``out/gates``, gate
        plots to ``out/plots``.
    plots
        Draw gate plots.

    Returns
    -------
    list of SampleOutcome
        One per target, in the order of ``targets``.
    """
    rows = experiment.files(panel).set_index(experiment.files(panel)["sample_id"].astype(str))
    files = {sid: str(rows.loc[sid, "file"]) for sid in targets}
    scratch = out / ".cache" / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        plots_dir = Path(tmp) if plots else None
        try:
            result = _quantify(experiment, panel, subset, plots_dir)
            wider = all_controls(targets, experiment.files(panel))
            controls = {str(r["sample_id"]) for r in experiment.files(panel).to_dict("records") if is_control(r)}
            if controls & set(result.failures) and list(subset) != wider:
                result = _quantify(experiment, panel, wider, plots_dir)
        except MsclabError as exc:
            return [SampleOutcome(sid, panel, files[sid], failure=str(exc)) for sid in targets]
        return [_outcome(result, sid, files[sid], out) for sid in targets]


def _rows(table: pd.DataFrame, sid: str) -> pd.DataFrame:
    if "sample_id" not in table or not len(table):
        return table.iloc[0:0]
    return table[table["sample_id"].astype(str) == sid].reset_index(drop=True)


def _outcome(result: PanelResult, sid: str, file: str, out: Path) -> SampleOutcome:
    outcome = SampleOutcome(sid, result.panel, file, failure=result.failures.get(sid),
                            records=_rows(result.records, sid), populations=_rows(result.populations, sid),
                            qc=_rows(result.qc, sid), provenance=result.provenance.sample(sid, file).to_dict())
    if sid in result.resolved:
        path = out / "gates" / f"{safe_id(sid)}_{result.panel}.xml"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_gatingml(result.resolved[sid], path)
        outcome.gatingml = str(path)
    if sid in result.plots:
        path = out / "plots" / Path(result.plots[sid]).name
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(result.plots[sid], path)
        outcome.plot = str(path)
    return outcome
