"""``msclab analyze``: the whole pipeline on one experiment.

experiment -> flow panels (gate, quantify) and cytokine assays (fit, quantify)
-> the sample x readout AnnData -> paired effects per contrast -> comparison
with the catalogue -> report and tables. A sample that fails is listed with its
reason (``obs['status']``, ``failures.csv``, the report); it never disappears.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pandas as pd

from ._files import atomic_path, atomic_write
from ._parallel import Forked, fork_start
from .errors import MsclabError
from .experiment import Experiment, read_experiment
from .provenance import Provenance
from .settings import Settings

T = TypeVar("T")

if TYPE_CHECKING:  # imported where used: the command starts gating before anndata and the statistics load
    import anndata as ad

    from .assay.quantification import AssayResult
    from .compare import Comparison
    from .flow.result import PanelResult
    from .stats import Contrast

#: Files ``analyze`` writes (design contract), by key.
OUTPUTS = {
    "report": "report.html", "readouts_h5ad": "readouts.h5ad", "readouts_csv": "readouts.csv",
    "effects": "effects.csv", "comparison": "comparison.csv", "provenance": "provenance.json",
    "populations": "populations.csv", "concentrations": "concentrations.csv", "curves": "curves.csv",
    "failures": "failures.csv", "trends": "trends.csv",
}


@dataclass
class AnalysisResult:
    """What ``analyze`` produced, as Python objects."""

    experiment: Experiment
    readouts: ad.AnnData
    effects: pd.DataFrame
    comparison: Comparison
    populations: pd.DataFrame = field(default_factory=pd.DataFrame)
    concentrations: pd.DataFrame = field(default_factory=pd.DataFrame)
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["sample_id", "stage", "reason"]))
    plots: dict[str, list[Path]] = field(default_factory=dict)
    provenance: Provenance | None = None
    flow_qc: pd.DataFrame = field(default_factory=pd.DataFrame)
    trends: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def warnings(self) -> list[str]:
        """What the analysis did in place of what the experiment asked (terminal summary and report)."""
        steps = self.provenance.steps if self.provenance is not None else {}
        fallbacks = pd.DataFrame(steps.get("control_fallbacks", []))
        out = []
        for panel, rows in (fallbacks.groupby("panel", sort=False) if len(fallbacks) else []):
            out.append(
                f"panel {panel}: a control-based threshold had no control sample and fell back to a data-driven "
                f"one in {rows['sample_id'].nunique()} sample(s) ({', '.join(dict.fromkeys(rows['population']))}); "
                "their readouts carry the flag control_fallback. Add the controls to the samplesheet and to the "
                "panel's controls: in experiment.yaml.")
        for row in self.export_failures.itertuples():
            out.append(f"panel {row.stage.split(':', 1)[1]}: the FlowJo workspace was not written ({row.reason}); "
                       "its Gating-ML files in gates/ are complete and no sample failed.")
        from .discovery import discovery_warnings

        return out + gate_warnings(self.gate_qc) + discovery_warnings(steps)

    @property
    def gate_qc(self) -> pd.DataFrame:
        """One row per data-driven or skipped gate of every sample (``gate_qc.csv``)."""
        from .flow.qc import gate_qc_from_provenance

        steps = self.provenance.steps if self.provenance is not None else {}
        return gate_qc_from_provenance(steps.get("gating", {}))

    @property
    def export_failures(self) -> pd.DataFrame:
        """Rows of ``failures`` for a panel whose FlowJo workspace could not be written (no sample failed)."""
        return self.failures[self.failures["stage"].astype(str).str.startswith(EXPORT_STAGE)]

    @property
    def sample_failures(self) -> pd.DataFrame:
        """Rows of ``failures`` for a sample or an assay export that could not be analysed."""
        return self.failures[~self.failures.index.isin(self.export_failures.index)]

    @property
    def n_failed(self) -> int:
        """Number of failures: samples with a failed file or stage, plus assay exports that could not be read.

        A FlowJo workspace that could not be written is not counted (:attr:`export_failures`):
        it is a warning, as every sample was analysed.
        """
        failures = self.sample_failures
        if not len(failures):
            return 0
        ids = failures["sample_id"].fillna("").astype(str)
        return int(ids[ids != ""].nunique() + (ids == "").sum())

    def __repr__(self) -> str:
        return (f"AnalysisResult({self.experiment.spec.name!r}: readouts {self.readouts.n_obs} samples x "
                f"{self.readouts.n_vars} readouts, {len(self.effects)} effects, {self.n_failed} failed samples; "
                f"{self.comparison!r})")


def gate_warnings(gate_qc: pd.DataFrame) -> list[str]:
    """Warnings for skipped and low-confidence gates, one per panel and kind (terminal summary and report).

    Parameters
    ----------
    gate_qc
        The ``gate_qc.csv`` table (:func:`msclab.flow.qc.gate_qc`).
    """
    out: list[str] = []
    if not len(gate_qc):
        return out
    flags = gate_qc["flag"].fillna("")
    for panel, rows in gate_qc[flags == "skipped"].groupby("panel", sort=False):
        gates = [f"{gate} in {part['sample_id'].nunique()} sample(s) ({part['reason'].iloc[0]})"
                 for gate, part in rows.groupby("gate", sort=False)]
        out.append(f"panel {panel}: {len(gates)} gate(s) skipped because the panel lacks their markers, so their "
                   f"readouts are not measured: {'; '.join(gates)}.")
    mixture = (flags == "fallback") & (gate_qc["method"] == "cluster")  # control fallbacks have their own warning
    for panel, rows in gate_qc[mixture].groupby("panel", sort=False):
        gates = [f"{gate} ({part['sample_id'].nunique()})" for gate, part in rows.groupby("gate", sort=False)]
        out.append(f"panel {panel}: the mixture of a cluster gate was not trusted and density-valley thresholds were "
                   f"used instead (gate and samples: {', '.join(gates)}); the reasons are in gate_qc.csv.")
    for panel, rows in gate_qc[flags == "low_confidence"].groupby("panel", sort=False):
        gates = [f"{gate} ({part['sample_id'].nunique()})" for gate, part in rows.groupby("gate", sort=False)]
        out.append(f"panel {panel}: {len(rows)} gate result(s) of low confidence (gate and samples: "
                   f"{', '.join(gates)}); look at their gate plots (gate_qc.csv and the report's Gate confidence "
                   "section list them).")
    return out


@dataclass
class FlowOutcome:
    """What the flow panels of an experiment gave (:func:`run_flow`, or assembled by a batch).

    Attributes
    ----------
    records
        Long readout records, one frame per panel (:func:`msclab.readouts.build_readouts`).
    populations
        One row per sample, panel and population (``populations.csv``).
    qc
        Acquisition and event-count checks (``flow_qc.csv``).
    failures
        One ``{"sample_id", "stage", "reason"}`` per sample that could not be quantified.
    plots
        Gate plots written (or being drawn, see ``plotting``).
    plotting
        The panels whose gate plots are still being drawn in the background
        (:func:`run_flow`); :meth:`wait_plots` waits for them.
    """

    records: list[pd.DataFrame] = field(default_factory=list)
    populations: pd.DataFrame = field(default_factory=pd.DataFrame)
    qc: pd.DataFrame = field(default_factory=pd.DataFrame)
    failures: list[dict] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    plotting: list = field(default_factory=list, repr=False)

    def wait_plots(self) -> list[Path]:
        """Wait for the gate plots drawn in the background and return :attr:`plots`."""
        while self.plotting:
            self.plotting.pop(0).wait_plots()
        return self.plots


@dataclass
class AssayOutcome:
    """What the cytokine assays of an experiment gave (:func:`run_assays`, or assembled by a batch).

    Attributes
    ----------
    records
        Long readout records of the samplesheet's samples.
    concentrations, curves
        Every well (``concentrations.csv``) and every standard curve (``curves.csv``).
    failures
        One ``{"sample_id": "", "stage", "reason"}`` per export that could not be read.
    plots
        Standard-curve plots written.
    """

    records: list[pd.DataFrame] = field(default_factory=list)
    concentrations: pd.DataFrame = field(default_factory=pd.DataFrame)
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    failures: list[dict] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)


class Pending(Generic[T]):
    """Work started in the background (:func:`start_flow`, :func:`start_assays`, :func:`start_flowjo_workspaces`).

    :meth:`wait` waits for it, records it in the run's provenance and returns
    what it gave.
    """

    def __init__(self, running: Forked, record: Callable[[list[Any], Provenance], T]):
        self._running, self._record = running, record

    def wait(self, prov: Provenance) -> T:
        """Wait for the work, record it in ``prov`` and return its outcome."""
        return self._record(self._running.wait(), prov)


def _record_panels(exp: Experiment, panels: list[str], gates_dir: Path | None, gated: list[Any],
                   prov: Provenance) -> FlowOutcome:
    """The panels' results recorded in ``prov`` in the experiment's panel order, as a :class:`FlowOutcome`."""
    records, populations, qc, failures, plots, plotting = [], [], [], [], [], []
    for panel, (result, written) in zip(panels, gated, strict=True):
        if isinstance(result, str):
            failures += [{"sample_id": s, "stage": f"flow:{panel}", "reason": result}
                         for s in exp.files(panel)["sample_id"]]
            continue
        prov.record(result.provenance)
        records.append(result.records)
        populations.append(result.populations.assign(panel=panel))
        qc.append(result.qc.assign(panel=panel))
        failures += [{"sample_id": s, "stage": f"flow:{panel}", "reason": r} for s, r in result.failures.items()]
        plots += [Path(p) for p in result.plots.values()]
        if result.plotting is not None:
            plotting.append(result)
        if gates_dir is not None:
            prov.steps.setdefault("resolved_gates", {})[panel] = {s: str(p) for s, p in written.items()}
    return FlowOutcome(records, concat_frames(populations), concat_frames(qc), failures, plots, plotting)


def flow_panels(exp: Experiment) -> list[str]:
    """The experiment's panels that have FCS files, in its order."""
    return [p for p in exp.spec.panels if not exp.files(p).empty]


def start_flow(exp: Experiment, plots_dir: Path | None, gates_dir: Path | None) -> Pending[FlowOutcome]:
    """Start gating and quantifying every panel; :meth:`Pending.wait` returns the :class:`FlowOutcome`.

    Every sample's resolved gates are written as GatingML 2.0 to ``gates_dir``
    (one file per sample and panel) so the gating can be audited and reopened.
    The panels are independent, so with several each is gated in a forked
    process of its own where that is safe (:func:`msclab._parallel.fork_start`),
    and one panel's serial steps overlap another's mixture fits; the outcome
    is recorded in the experiment's panel order, the same as one after the
    other. A single panel is gated here, and its gate plots are drawn in the
    background while the analysis goes on (``FlowOutcome.wait_plots()``,
    called by :func:`finish_analysis` before the report, waits for them).
    """
    from .flow.panel import quantify_panel

    panels = flow_panels(exp)
    apart = len(panels) > 1

    def gate(panel: str) -> tuple[PanelResult | str, dict[str, Path]]:
        try:
            result = quantify_panel(exp, panel, plots_dir=plots_dir, background_plots=not apart)
        except MsclabError as exc:
            return str(exc), {}
        written = result.write_gatingml(gates_dir) if gates_dir is not None else {}
        if apart:
            result.resolved = {}  # written as GatingML, read back from there; not sent between processes
        return result, written

    gating = fork_start(gate, panels, n_jobs=len(panels)) if apart else Forked(gate, [gate(p) for p in panels])
    return Pending(gating, partial(_record_panels, exp, panels, gates_dir))


def run_flow(exp: Experiment, prov: Provenance, plots_dir: Path | None, gates_dir: Path | None) -> FlowOutcome:
    """Gate and quantify every panel (:func:`start_flow`) and record it in ``prov``."""
    return start_flow(exp, plots_dir, gates_dir).wait(prov)


def written_trees(prov: Provenance) -> dict[str, dict]:
    """Panel -> sample id -> the gate tree the analysis wrote (``steps.resolved_gates``), read once."""
    from .flow.flowjo_export import read_trees

    return {panel: read_trees(files) for panel, files in prov.steps.get("resolved_gates", {}).items() if files}


#: ``failures.csv`` stage of a panel whose FlowJo workspace could not be written (``flowjo_export:<panel>``).
EXPORT_STAGE = "flowjo_export:"


def _record_workspaces(written: list[tuple[str, str | None, str]], prov: Provenance) -> list[dict]:
    """Record each workspace written in ``prov``; a failure row per panel not written."""
    failures = []
    for panel, path, reason in written:
        if path is None:
            failures.append({"sample_id": "", "stage": f"{EXPORT_STAGE}{panel}", "reason": reason})
        else:
            prov.steps.setdefault("flowjo_workspaces", {})[panel] = path
    return failures


def start_flowjo_workspaces(exp: Experiment, trees: dict[str, dict], populations: pd.DataFrame,
                            folder: Path) -> Pending[list[dict]]:
    """Start writing ``<folder>/<panel>.wsp`` (FlowJo workspaces of the gates used; docs/review.md) for every panel.

    The files are written in a forked process where that is safe
    (:func:`msclab._parallel.fork_start`), while the analysis goes on. A panel
    whose gates FlowJo cannot store gets one failure row instead
    (:meth:`Pending.wait`).
    """
    from .flow.flowjo_export import write_panel_workspace

    def write(panel: str) -> tuple[str, str | None, str]:
        try:
            path = write_panel_workspace(exp, panel, trees[panel], populations, folder / f"{panel}.wsp")
        except MsclabError as exc:
            return panel, None, str(exc)
        return panel, str(path), ""

    return Pending(fork_start(write, list(trees), n_jobs=1), _record_workspaces)


def run_discovery(exp: Experiment, prov: Provenance, trees: dict[str, dict], settings: Settings, out: Path) -> None:
    """Cluster the gated events of every panel that asks for discovery (docs/discovery.md).

    Runs on the gate trees the analysis wrote (``steps.resolved_gates``, Gating-ML in
    ``OUT/gates``), so ``analyze`` and ``batch`` discover the same way. A failure is
    recorded in provenance and shown as a warning; it never fails the analysis.
    """
    from .discovery import discovery_hook
    from .flow.protocols.loader import is_strategy_file, load_protocol
    from .flow.result import PanelResult

    step = discovery_hook(exp, prov, every_panel=settings.discovery, seed=settings.seed, out=out)
    if step is None:
        return
    # Panels gated by a GatingML/FlowJo file write no resolved trees: the file gives every sample's tree.
    fixed = {name: _strategy_trees(exp, name) for name, spec in exp.spec.panels.items()
             if is_strategy_file(spec.protocol) and name not in trees and (settings.discovery or spec.discovery)}
    for panel, panel_trees in {**trees, **fixed}.items():
        spec = exp.spec.panels.get(panel)
        if spec is None:
            continue
        protocol = None if is_strategy_file(spec.protocol) else load_protocol(spec.protocol or panel, base=exp.root)
        empty = pd.DataFrame()
        step(PanelResult(panel, protocol, empty, empty, empty, {}, panel_trees))


def _strategy_trees(exp: Experiment, panel: str) -> dict:
    """Sample id -> the gate tree a panel's GatingML/FlowJo file gives it (samples it has none for are left out).

    Discovery records the samples left out as not gated; an unreadable file leaves every sample out.
    """
    from .flow.gating.strategy import read_strategy

    try:
        strategy = read_strategy(exp.root / exp.spec.panels[panel].protocol)
    except MsclabError:
        return {}
    out = {}
    for row in exp.files(panel).itertuples():
        try:
            out[str(row.sample_id)] = strategy.tree_for(Path(row.file).name)
        except MsclabError:
            continue
    return out


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate the non-empty frames (an empty frame when there are none)."""
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def run_assays(exp: Experiment, prov: Provenance, settings: Settings, plots_dir: Path | None) -> AssayOutcome:
    """Read, fit and quantify every assay export; returns records, concentrations, curves, failures, plots.

    When the samplesheet names bridge samples (``control_type = bridge``) and an
    analyte spans several plates, concentrations are calibrated across plates
    (:func:`msclab.normalise.calibrate_plates`) and the factors recorded.
    """
    from .assay.plots import save_curve_plots
    from .assay.quantification import quantify
    from .assay.read import read_assay

    results, failures, plots = [], [], []
    for assay in exp.spec.assays:
        path = exp.root / assay.file
        layout = exp.root / assay.layout if assay.layout else None
        try:
            export = read_assay(path, assay.format, layout=layout, analyte=assay.analyte,
                                beads=exp.root / assay.beads if assay.beads else None)
        except MsclabError as exc:
            failures.append({"sample_id": "", "stage": f"assay:{assay.id}", "reason": str(exc)})
            continue
        for leniency in export.leniencies:
            prov.add_leniency(path, leniency)
        result = quantify(export, model=settings.curve_model, weighting=settings.weighting, unit=assay.unit)
        prov.record(result.provenance(assay.id))
        if plots_dir is not None:
            plots += save_curve_plots(result, plots_dir / "curves" / assay.id)
        results.append((assay.id, result))
    return AssayOutcome(*combine_assays(exp, results, prov), failures, plots)


def _record_assays(done: list[tuple[AssayOutcome, Provenance]], prov: Provenance) -> AssayOutcome:
    """Add the assays' provenance record, made apart, to ``prov``; return their outcome."""
    outcome, record = done[0]
    prov.merge(record)
    return outcome


def start_assays(exp: Experiment, prov: Provenance, settings: Settings,
                 plots_dir: Path | None) -> Pending[AssayOutcome]:
    """Start :func:`run_assays` in a forked process (where that is safe) and return at once.

    The assays do not depend on the flow panels, so ``analyze`` fits the
    standard curves and draws their plots while it gates. The work records its
    provenance apart; :meth:`Pending.wait` adds it to ``prov`` (where
    forking is not safe the assays run here, before this returns).
    """

    def apart(_: None) -> tuple[AssayOutcome, Provenance]:
        record = Provenance(prov.command)
        return run_assays(exp, record, settings, plots_dir), record

    running = fork_start(apart, [None]) if exp.spec.assays else Forked(apart, [apart(None)])
    return Pending(running, _record_assays)


def combine_assays(exp: Experiment, results: list[tuple[str, AssayResult]], prov: Provenance
                   ) -> tuple[list[pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """Join the plates' results: calibrate across plates, then one record per sample and analyte.

    Returns
    -------
    records, wells, curves
        Readout records of the samplesheet's samples (mapped to catalogue
        effects by analyte name), every well, every curve.
    """
    from .assay.quantification import AssayResult
    from .compare.analytes import catalogue_id_for_analyte

    if not results:
        return [], pd.DataFrame(), pd.DataFrame()
    wells = concat_frames([r.wells.assign(assay=a) for a, r in results])
    empty = (wells["sample_type"] == "unknown") & (wells["sample_id"] == "") & wells["signal"].isna()
    wells = _calibrate_across_plates(wells[~empty], exp, prov)
    curves = concat_frames([r.curves.assign(assay=a) for a, r in results])
    combined = AssayResult(wells, curves, concat_frames([r.masks for _, r in results]), settings=results[0][1].settings)
    known = set(exp.samples.index)
    unknown = sorted(set(wells.loc[wells["sample_type"] == "unknown", "sample_id"]) - known - {""})
    if unknown:
        prov.steps["assay_samples_not_in_samplesheet"] = unknown
    records = combined.readout_records()
    records["catalogue_id"] = records["analyte"].map(catalogue_id_for_analyte)
    return [records[records["sample_id"].isin(known)]], wells, curves


def _calibrate_across_plates(wells: pd.DataFrame, exp: Experiment, prov: Provenance) -> pd.DataFrame:
    """Inter-plate calibration per analyte with the experiment's bridge samples, when it applies."""
    from .normalise import calibrate_plates

    bridges = list(exp.samples.index[exp.samples["control_type"] == "bridge"])
    if not bridges:
        return wells
    parts = []
    for analyte, part in wells.groupby("analyte", sort=False):
        if part["plate"].nunique() < 2:
            parts.append(part)
            continue
        calibration = calibrate_plates(part, bridges)
        prov.steps.setdefault("plate_calibration", {})[analyte] = {
            "reference_plate": calibration.reference_plate, "bridge_samples": bridges,
            "factors": calibration.factors.to_dict("records")}
        parts.append(calibration.wells)
    return pd.concat(parts, ignore_index=True)


def _mark_failures(readouts: ad.AnnData, failures: pd.DataFrame) -> None:
    """Record every failure in ``obs``; a sample is ``failed`` only when nothing of it was measured.

    A failure removes only what depends on the failed input: a failed FCS file
    leaves its panel's readouts of that sample unmeasured, and the sample's
    other panels and cytokine wells still count (its ``status`` stays ``ok``,
    ``status_reason`` names the failure). A sample with no measured readout at
    all is ``failed`` and excluded from every contrast.
    """
    import numpy as np

    measured = pd.Series(np.isfinite(np.asarray(readouts.X, dtype=float)).any(axis=1), index=readouts.obs_names)
    for sample_id, group in failures[failures["sample_id"] != ""].groupby("sample_id"):
        if sample_id in readouts.obs_names:
            if not measured[sample_id]:
                readouts.obs.loc[sample_id, "status"] = "failed"
            readouts.obs.loc[sample_id, "status_reason"] = "; ".join(f"{s}: {r}" for s, r in zip(group["stage"], group["reason"]))


def analyze(experiment: str | PathLike[str], out: str | PathLike[str], settings: Settings | None = None,
            *, allow: Iterable[str | PathLike[str]] = (),
            progress: Callable[[str], None] | None = None) -> AnalysisResult:
    """Run the whole pipeline on one experiment and write every output.

    Parameters
    ----------
    experiment
        ``experiment.yaml``.
    out
        Output folder (created); see :data:`OUTPUTS` for what is written.
    settings
        Analysis parameters.
    allow
        Further folders the experiment may read from (by default only its own folder).
    progress
        Called with a short sentence as each step starts (the CLI shows it on a terminal).

    Returns
    -------
    AnalysisResult
    """
    settings = settings or Settings()
    say = progress or (lambda _: None)
    out = Path(out)
    say("reading the experiment")
    exp = read_experiment(experiment, allow=allow)
    prov = start_provenance(exp, out, settings)
    plots_dir = out / "plots" if settings.plots else None
    assaying = start_assays(exp, prov, settings, plots_dir)
    gating = start_flow(exp, plots_dir, out / "gates")
    say(f"gating {len(flow_panels(exp))} panel(s) ({len(exp.files())} files) and fitting "
        f"{len(exp.spec.assays)} assay export(s)")
    _load_finish()  # while the panels are gated elsewhere
    flow = gating.wait(prov)
    assays = assaying.wait(prov)
    say("estimating effects, comparing with the catalogue, writing the outputs")
    return finish_analysis(exp, prov, settings, flow, assays, out)


def _load_finish() -> None:
    """Import what :func:`finish_analysis` uses (anndata, the statistics; about a second) ahead of it."""
    from . import compare, readouts, stats  # noqa: F401
    from .stats import effects  # noqa: F401


def start_provenance(exp: Experiment, out: Path, settings: Settings, command: str = "analyze") -> Provenance:
    """The provenance record an analysis starts with: parameters and every input with its hash."""
    prov = Provenance(command, parameters={"experiment": str(exp.path), "out": str(out), **vars(settings)})
    prov.add_input(exp.path, "manifest")
    prov.add_input(exp.root / exp.spec.samplesheet, "samplesheet")
    for file in exp.files()["file"]:
        prov.add_input(file, "fcs")
    for assay in exp.spec.assays:
        prov.add_input(exp.root / assay.file, "assay")
        for role in ("layout", "beads"):
            if getattr(assay, role):
                prov.add_input(exp.root / getattr(assay, role), role)
    return prov


def finish_analysis(exp: Experiment, prov: Provenance, settings: Settings, flow: FlowOutcome,
                    assays: AssayOutcome, out: Path) -> AnalysisResult:
    """From quantified flow panels and assay plates to readouts, effects, comparison and every output.

    Parameters
    ----------
    exp, prov, settings
        The experiment, its provenance record and the analysis parameters.
    flow
        What :func:`run_flow` returns.
    assays
        What :func:`run_assays` returns.
    out
        The output folder.
    """
    from .compare import score
    from .compare.discovery import read_discovered
    from .readouts import build_readouts
    from .stats import estimate_effects

    trees = written_trees(prov)
    exporting = start_flowjo_workspaces(exp, trees, flow.populations, out / "gates")
    run_discovery(exp, prov, trees, settings, out)
    failures = pd.DataFrame(flow.failures + assays.failures, columns=["sample_id", "stage", "reason"])

    records = [r for r in flow.records + assays.records if len(r)]
    mapping = exp.spec.catalogue_mapping
    table = pd.concat(records, ignore_index=True) if records else pd.DataFrame()
    readouts = build_readouts(exp.samples, table)
    if mapping:
        known = readouts.var.index.intersection(list(mapping))
        readouts.var.loc[known, "catalogue_id"] = [mapping[r] for r in known]
    _mark_failures(readouts, failures)
    readouts.uns["experiment"] = {"name": exp.spec.name, "context": exp.spec.context}

    trending = fork_start(lambda _: _dose_trends(readouts, exp), [None])  # while the effects are estimated
    effects = estimate_effects(readouts, exp.spec.contrasts, n_boot=settings.n_boot, seed=settings.seed)
    trends = trending.wait()[0]
    comparison = score(effects, _catalogue(exp), exp.spec.context, exp.spec.modifiers, seed=settings.seed,
                       discovered=read_discovered(prov.steps))
    prov.steps["comparison"] = {"score": comparison.score, "ci": list(comparison.ci), "summary": comparison.summary}

    exported = exporting.wait(prov)
    failures = pd.DataFrame(flow.failures + exported + assays.failures, columns=["sample_id", "stage", "reason"])
    flow.wait_plots()  # the report reads the gate plots
    result = AnalysisResult(
        experiment=exp, readouts=readouts, effects=effects, comparison=comparison, populations=flow.populations,
        concentrations=assays.concentrations, curves=assays.curves, failures=failures,
        plots={"gates": flow.plots, "curves": assays.plots}, provenance=prov, flow_qc=flow.qc, trends=trends)
    write_outputs(result, out)
    return result


def dose_contrasts(contrasts: list[Contrast]) -> list[Contrast]:
    """Contrasts for the dose-response trend: the experiment's contrasts that differ only by MSC ratio.

    Contrasts whose treatment selectors are equal once ``msc_ratio`` is removed,
    with the same control, pairing and matching, and that cover at least two
    ratios, give one dose contrast (named ``dose:<names>``) selecting the
    treated samples of every one of those ratios.
    """
    groups: dict[str, list[Contrast]] = {}
    for contrast in contrasts:
        if "msc_ratio" not in contrast.treatment:
            continue
        base = {k: v for k, v in contrast.treatment.items() if k != "msc_ratio"}
        key = repr((sorted(base.items()), sorted(contrast.control.items()), contrast.pair_by, contrast.match_on))
        groups.setdefault(key, []).append(contrast)
    out = []
    for members in groups.values():
        ratios = sorted({str(c.treatment["msc_ratio"]) for c in members})
        if len(ratios) < 2:
            continue
        first = members[0]
        treatment = {k: v for k, v in first.treatment.items() if k != "msc_ratio"}
        treatment["msc_ratio"] = ratios
        out.append(first.model_copy(update={"name": "dose:" + "+".join(c.name for c in members),
                                            "treatment": treatment}))
    return out


def _dose_trends(readouts: ad.AnnData, exp: Experiment) -> pd.DataFrame:
    """Dose-response trend tests (:func:`msclab.stats.dose_trend`) for each dose contrast."""
    from .experiment.contrasts import select
    from .stats import dose_trend

    parts = []
    for contrast in dose_contrasts(list(exp.spec.contrasts)):
        treated = readouts.obs_names[select(readouts.obs, contrast.treatment).to_numpy()]
        # dose_trend reads the ratio from obs, so the treated samples are named by id, not by ratio.
        by_id = contrast.model_copy(update={"treatment": {"sample_id": list(treated)}})
        parts.append(dose_trend(readouts, by_id))
    return concat_frames(parts)


def _catalogue(exp: Experiment):
    from .catalogue import load_catalogue

    extra = exp.root / exp.spec.catalogue if exp.spec.catalogue else None
    return load_catalogue(extra)


def _csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_write(path, newline="") as handle:
        frame.to_csv(handle, index=False)


def write_outputs(result: AnalysisResult, out: Path) -> dict[str, Path]:
    """Write the tables, the AnnData, the report and provenance atomically.

    The report's forest plot is drawn in a forked process (where that is safe)
    while the tables are written.
    """
    from .readouts import to_long
    from .report import write_report
    from .report.forest import forest_png

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MsclabError(f"cannot create the output folder ({exc.strerror})", file=out,
                          hint="Choose an output folder you can write to.") from exc
    paths = {key: out / name for key, name in OUTPUTS.items()}
    table = result.comparison.table
    drawing = fork_start(forest_png, [table] if len(table) else [])
    readouts = result.readouts
    with atomic_path(paths["readouts_h5ad"]) as tmp:
        readouts.write_h5ad(tmp)
    wide = pd.concat([readouts.obs, pd.DataFrame(readouts.X, index=readouts.obs_names, columns=readouts.var_names)],
                     axis=1)
    _csv(wide, paths["readouts_csv"])
    _csv(to_long(readouts), out / "readouts_long.csv")
    _csv(result.effects, paths["effects"])
    _csv(result.comparison.table, paths["comparison"])
    _csv(result.populations, paths["populations"])
    _csv(result.concentrations, paths["concentrations"])
    _csv(result.curves, paths["curves"])
    _csv(result.failures, paths["failures"])
    _csv(result.flow_qc, out / "flow_qc.csv")
    _csv(result.gate_qc, out / "gate_qc.csv")
    _csv(result.trends, paths["trends"])
    write_report(result, paths["report"], forest=next(iter(drawing.wait()), None))
    result.provenance.steps["outputs"] = {k: str(p) for k, p in paths.items()}
    result.provenance.write(paths["provenance"])
    return paths
