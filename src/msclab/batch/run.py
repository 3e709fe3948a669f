"""``msclab batch``: plan every experiment, run what is not cached, record it, write the batch report."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path
from typing import Any

from .. import __version__
from .._files import atomic_write
from ..errors import MsclabError
from ..pipeline import Settings
from .cache import read_record
from .execute import default_workers, run_dask, run_serial
from .hashing import FileHashes
from .inputs import resolve_inputs
from .plan import CACHE, ExperimentPlan, plan_experiment
from .progress import QuietReporter, Reporter
from .qc import levey_jennings
from .registry import Registry
from .report import write_batch_report

REGISTRY = "runs.sqlite"
REPORT = "batch_report.html"
LEVEY_JENNINGS = "levey_jennings.csv"


@dataclass
class BatchResult:
    """What a batch run did.

    Attributes
    ----------
    run_id
        The run's id in the registry.
    out
        The output folder.
    failures
        Every failed unit or experiment (``plate, stage, sample_id, reason``).
    warnings
        What each experiment did in place of what it asked (``plate, warning``): skipped and
        low-confidence gates, control fallbacks, discovery skips
        (:attr:`msclab.pipeline.AnalysisResult.warnings`), from cached experiments too.
    computed, cached
        Units computed in this run and units taken from the cache.
    """

    run_id: str
    out: Path
    failures: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    computed: int = 0
    cached: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failures


def _cached_units(plan: ExperimentPlan) -> list[dict[str, Any]]:
    units = []
    for unit in plan.units:
        if unit.key not in plan.cached:
            continue
        record = read_record(plan.out / CACHE, unit.key)
        reason = record.get("failure")
        units.append({"stage": unit.stage, "sample_id": unit.sample_id, "key": unit.key,
                      "status": "failed" if reason else "ok", "reason": reason, "qc": {}, "computed": False,
                      "output": str(plan.out / CACHE / f"{unit.key}.json")})
    return units


def run_batch(inputs: Sequence[str | PathLike[str]], out: str | PathLike[str], *, settings: Settings | None = None,
              workers: int | None = None, scheduler: str | None = None, samples_per_task: int | None = None,
              reporter: Reporter | None = None) -> BatchResult:
    """Analyse many experiments, resumably, and record everything in ``OUT/runs.sqlite``.

    Parameters
    ----------
    inputs
        Experiment files or folders (a folder means its ``experiment.yaml``).
    out
        Output folder: ``OUT/<experiment>/`` per experiment (what ``msclab
        analyze`` writes), ``runs.sqlite``, ``batch_report.html`` and
        ``levey_jennings.csv``.
    settings
        Analysis parameters (as for ``analyze``).
    workers
        ``0`` runs serially in this process; ``None`` (default) an embedded
        Dask LocalCluster with one worker per CPU; ``N`` with N workers.
    scheduler
        Address of an existing Dask scheduler (overrides ``workers``).
    samples_per_task
        Flow samples sharing the same controls quantified per task (1: one
        task per sample; more: controls are gated once for several samples).
    reporter
        Progress display.

    Returns
    -------
    BatchResult

    Raises
    ------
    MsclabError
        When an input does not exist.
    """
    settings = settings or Settings()
    reporter = reporter or QuietReporter()
    out = Path(out).resolve()
    items = resolve_inputs(inputs)
    out.mkdir(parents=True, exist_ok=True)
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    mode = f"dask {scheduler}" if scheduler else "serial" if workers == 0 else f"local {workers or default_workers()}"
    registry = Registry(out / REGISTRY)
    registry.start_run(run_id, " ".join(sys.argv), __version__, mode, 0 if workers == 0 else workers or 0)
    result = BatchResult(run_id, out)
    try:
        plans: list[ExperimentPlan] = []
        planning = _plan(items, out, settings, samples_per_task, registry, run_id, result, reporter, plans)
        if workers == 0 and not scheduler:
            runner = run_serial(list(planning))
        else:  # each experiment's tasks start while the next ones are planned
            runner = run_dask(planning, workers=workers, scheduler=scheduler, run_id=run_id)
        qc = _record(runner, plans, registry, run_id, reporter, result)
        _write_qc(out, registry, run_id, result, [(p.input.name, qc[p.input.name]) for p in plans if p.input.name in qc])
        status = "failed" if result.failures else "done"
        registry.finish_run(run_id, status)
        reporter.finish(status, result.failures, result.warnings)
    except BaseException:
        registry.finish_run(run_id, "interrupted")
        raise
    finally:
        registry.close()
    return result


def _plan(items, out: Path, settings: Settings, samples_per_task: int | None, registry: Registry, run_id: str,
          result: BatchResult, reporter: Reporter, plans: list[ExperimentPlan]) -> Iterator[ExperimentPlan]:
    """Plan the experiments one by one, yielding each plan (and appending it to ``plans``) with its cached units
    recorded; once all are planned, start ``reporter`` with the totals."""
    hashes = FileHashes()
    failed = 0
    for item in items:
        try:
            plan = plan_experiment(item, out, settings, hashes, samples_per_task)
        except MsclabError as exc:
            registry.plate(run_id, item.name, str(item.manifest), None, "failed", str(exc))
            result.failures.append({"plate": item.name, "stage": "experiment", "sample_id": "", "reason": str(exc)})
            continue
        registry.plate(run_id, item.name, str(item.manifest), plan.assemble.key, "running", n_units=len(plan.units))
        cached = _cached_units(plan)
        registry.units(run_id, item.name, cached, started=None, finished=None, worker="")
        result.cached += len(cached)
        failed += sum(u["status"] == "failed" for u in cached)
        plans.append(plan)
        yield plan
    reporter.start(run_id, len(items), sum(len(p.units) for p in plans), result.cached, failed)
    for failure in result.failures:
        reporter.plate_failed(failure["plate"], failure["reason"])


def _record(runner, plans: Sequence[ExperimentPlan], registry: Registry, run_id: str, reporter: Reporter,
            result: BatchResult) -> dict[str, dict[str, Any]]:
    """Record every task summary as it arrives; return each experiment's QC record.

    ``plans`` may still be filled while the runner plans (:func:`run_dask` with :func:`_plan`).
    """
    by_name: dict[str, ExperimentPlan] = {}
    qc: dict[str, dict[str, Any]] = {}
    first_start: dict[str, float] = {}  # a plate's wall time runs from its first task's start to its assembly's end
    for summary in runner:
        plate = summary["plate"]
        units = summary["units"]
        first_start[plate] = min(first_start.get(plate, summary["started"]), summary["started"])
        if summary["kind"] != "assemble":
            registry.units(run_id, plate, units, started=summary["started"], finished=summary["finished"],
                           worker=summary["worker"])
            result.computed += sum(u["computed"] for u in units)
            reporter.task(summary)
            continue
        if plate not in by_name:
            by_name.update((p.input.name, p) for p in plans)
        unit = units[0]
        record = unit.get("record", {})
        failed = [{"plate": plate, "stage": f["stage"], "sample_id": f["sample_id"], "reason": f["reason"]}
                  for f in record.get("failures", [])]
        if unit["status"] == "failed":
            failed.append({"plate": plate, "stage": "assemble", "sample_id": "", "reason": unit["reason"]})
        result.failures += failed
        result.warnings += [{"plate": plate, "warning": w} for w in record.get("warnings", [])]
        qc[plate] = record.get("qc", {})
        registry.plate(run_id, plate, str(by_name[plate].input.manifest), unit["key"],
                       "failed" if unit["status"] == "failed" else "done", unit["reason"],
                       started=first_start[plate], finished=summary["finished"], n_units=len(by_name[plate].units),
                       n_failed=len({(f["stage"], f["sample_id"]) for f in failed}), qc=qc[plate],
                       outputs=record.get("outputs"))
        reporter.task(summary)
    return qc


def _write_qc(out: Path, registry: Registry, run_id: str, result: BatchResult,
              plates: list[tuple[str, dict[str, Any]]]) -> None:
    lj = levey_jennings(plates)
    with atomic_write(out / LEVEY_JENNINGS, newline="") as handle:
        lj.to_csv(handle, index=False)
    run = next(r for r in registry.runs() if r["run_id"] == run_id)
    write_batch_report(out / REPORT, run, registry.plates(run_id), result.failures, lj, result.warnings)
