"""Decompose an experiment into tasks: flow tasks, per-plate assay tasks, one assemble task.

Every flow sample of every panel and every assay plate is a *unit* with a
cache key: the SHA-256 of its inputs (samplesheet row and file content, the
panel, the protocol, every control sample it may be gated with), the
parameters that affect it and the msclab version. Units already in the cache
are not scheduled again. Uncached flow samples that share the same controls
become one task (or tasks of ``samples_per_task`` samples), which also takes
the controls themselves when they are still to do, so a control is gated
once per task that needs it rather than once per sample; a panel whose
protocol pools events over a plate or donor (``group_by``) is one task, since
each of its samples depends on all the others. The assemble task depends on
every unit of its experiment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import MsclabError
from ..experiment import Experiment, read_experiment
from ..experiment.model import Assay, ExperimentSpec, Panel
from ..flow.overrides import overrides_of
from ..flow.protocols import load_protocol
from ..flow.protocols.loader import is_strategy_file
from ..pipeline import OUTPUTS, Settings
from .assemble import Unit
from .cache import has_result
from .controls import all_controls, control_needs, is_control, pooled_gates, task_groups
from .hashing import FileHashes, digest
from .inputs import BatchInput

CACHE = ".cache"


@dataclass(frozen=True)
class FlowTask:
    """Quantify some samples of one panel (see :func:`msclab.batch.flow.quantify_samples`).

    Only small objects travel to the worker: the manifest model and the few
    samplesheet rows the task may read (targets, their controls, every
    control of the panel for the fallback); the worker reads the FCS files.
    """

    plate: str
    manifest: Path
    out: Path
    panel: str
    targets: tuple[str, ...]
    subset: tuple[str, ...]
    keys: tuple[str, ...]
    spec: ExperimentSpec
    rows: pd.DataFrame
    plots: bool

    @property
    def cache(self) -> Path:
        """Where results are cached."""
        return self.out / CACHE


@dataclass(frozen=True)
class AssayTask:
    """Quantify one assay plate (see :func:`msclab.batch.assay.quantify_plate`)."""

    plate: str
    root: Path
    out: Path
    assay: Assay
    key: str
    settings: Settings

    @property
    def cache(self) -> Path:
        """Where results are cached."""
        return self.out / CACHE


@dataclass(frozen=True)
class AssembleTask:
    """Build the experiment's outputs from its units (see :func:`msclab.batch.assemble.assemble`)."""

    plate: str
    manifest: Path
    out: Path
    units: tuple[Unit, ...]
    key: str
    settings: Settings

    @property
    def cache(self) -> Path:
        """Where results are cached."""
        return self.out / CACHE


@dataclass
class ExperimentPlan:
    """Everything one experiment of the batch needs.

    Attributes
    ----------
    input
        The experiment.
    out
        Its output folder.
    units
        Every unit with its key (cached or not).
    flow, assays
        The tasks still to run.
    assemble
        The assemble task.
    cached
        Keys of the units whose results are already cached.
    done
        True when the outputs for exactly these inputs are already written.
    """

    input: BatchInput
    out: Path
    units: list[Unit] = field(default_factory=list)
    flow: list[FlowTask] = field(default_factory=list)
    assays: list[AssayTask] = field(default_factory=list)
    assemble: AssembleTask | None = None
    cached: set[str] = field(default_factory=set)
    done: bool = False


def _row_record(row: dict, hashes: FileHashes) -> dict:
    return {**{k: v for k, v in row.items() if k != "file"}, "file_sha256": hashes(row["file"])}


def _panel_units(plate: str, exp: Experiment, name: str, panel: Panel, settings: Settings, hashes: FileHashes,
                 out: Path, samples_per_task: int | None) -> tuple[list[Unit], list[FlowTask], set[str]]:
    rows = exp.files(name).reset_index(drop=True)
    rows = rows.assign(sample_id=rows["sample_id"].astype(str))
    try:
        if is_strategy_file(panel.protocol):
            # Fixed gates, file by file: no sample depends on another; the file's hash keys the cache.
            protocol_record, pooled, needs = {"strategy": hashes(exp.root / panel.protocol)}, False, []
        else:
            protocol = load_protocol(panel.protocol or name, base=exp.root)
            protocol_record, pooled = protocol.model_dump(mode="json"), bool(pooled_gates(protocol))
            needs = control_needs(protocol, panel.markers, panel.controls)
    except MsclabError as exc:
        protocol_record, pooled, needs = {"error": str(exc)}, True, []
    hashes.prefetch(rows["file"])
    records = {r["sample_id"]: _row_record(r, hashes) for r in rows.to_dict("records")}
    for sid, path in overrides_of(exp.root, name, records).items():  # a gate override keys its sample's result
        records[sid]["override_sha256"] = hashes(path)
    shared = [records[r["sample_id"]] for r in rows.to_dict("records") if pooled or is_control(r)]
    panel_key = digest("flow", name, panel.model_dump(mode="json"), protocol_record, settings.plots, shared)
    keys = {sid: digest(panel_key, records[sid]) for sid in rows["sample_id"]}
    units = [Unit(f"flow:{name}", sid, keys[sid]) for sid in rows["sample_id"]]
    todo = [sid for sid in rows["sample_id"] if not has_result(out / CACHE, keys[sid])]
    cached = {keys[sid] for sid in rows["sample_id"]} - {keys[sid] for sid in todo}
    if pooled:
        groups = [(todo, list(rows["sample_id"]))] if todo else []
    else:
        groups = task_groups(todo, rows, needs, samples_per_task)
    tasks = []
    for targets, subset in groups:
        keep = set(subset) | set(all_controls(targets, rows))
        tasks.append(FlowTask(plate=plate, manifest=exp.path, out=out, panel=name, targets=tuple(targets),
                              subset=tuple(subset), keys=tuple(keys[s] for s in targets), spec=exp.spec,
                              rows=exp.files(name)[rows["sample_id"].isin(keep).to_numpy()], plots=settings.plots))
    return units, tasks, cached


def plan_experiment(item: BatchInput, out_root: Path, settings: Settings, hashes: FileHashes,
                    samples_per_task: int | None = None) -> ExperimentPlan:
    """Read an experiment and list its units and the tasks still to run.

    Raises
    ------
    MsclabError
        When the experiment cannot be read (invalid manifest or samplesheet).
    """
    exp = read_experiment(item.manifest)
    out = out_root / item.name
    plan = ExperimentPlan(item, out)
    for name, panel in exp.spec.panels.items():
        units, tasks, cached = _panel_units(item.name, exp, name, panel, settings, hashes, out, samples_per_task)
        plan.units += units
        plan.flow += tasks
        plan.cached |= cached
    for assay in exp.spec.assays:
        key = digest("assay", assay.model_dump(mode="json"), hashes(exp.root / assay.file),
                     hashes(exp.root / assay.layout) if assay.layout else None,
                     settings.curve_model, settings.weighting, settings.plots)
        plan.units.append(Unit(f"assay:{assay.id}", "", key))
        if has_result(out / CACHE, key):
            plan.cached.add(key)
        else:
            plan.assays.append(AssayTask(item.name, exp.root, out, assay, key, settings))
    extra = [hashes(exp.root / exp.spec.catalogue)] if exp.spec.catalogue else []
    key = digest("assemble", [u.key for u in plan.units], hashes(exp.path),
                 hashes(exp.root / exp.spec.samplesheet), extra, vars(settings))
    plan.assemble = AssembleTask(item.name, exp.path, out, tuple(plan.units), key, settings)
    plan.done = has_result(out / CACHE, key) and (out / OUTPUTS["readouts_csv"]).is_file()
    return plan
