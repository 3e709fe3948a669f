"""What a worker runs: one task, its result cached atomically, a small summary returned.

Each function takes a task of :mod:`msclab.batch.plan`, reads its own files by
path, writes its result to the experiment's cache (:mod:`msclab.batch.cache`)
and returns a JSON-able summary for the run registry; large results never go
back to the client. Bad input fails only the samples it concerns and is
cached like any result (the same input fails the same way). An unexpected
error is reported as a failure of the task's samples and is not cached, so
the next run tries again.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any

from ..experiment import Experiment
from ..pipeline import OUTPUTS
from .cache import load, result_path, store
from .plan import AssayTask, AssembleTask, FlowTask


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _timed(kind: str, plate: str, body: Callable[[], list[dict[str, Any]]],
           on_error: Callable[[str], list[dict[str, Any]]]) -> dict[str, Any]:
    started = time.time()
    try:
        units = body()
    except Exception as exc:  # noqa: BLE001 - reported per sample, never lost
        reason = f"internal error: {type(exc).__name__}: {exc}"
        units = on_error(reason + "\n" + traceback.format_exc(limit=3))
    finished = time.time()
    return {"kind": kind, "plate": plate, "units": units, "started": started, "finished": finished,
            "seconds": finished - started, "worker": _worker()}


def _qc_summary(qc) -> dict[str, Any]:
    if not len(qc) or "passed" not in qc:
        return {"checks": 0, "failed": []}
    failed = qc.loc[~qc["passed"].astype(bool), "check"].astype(str).tolist()
    return {"checks": int(len(qc)), "failed": failed}


def run_flow_task(task: FlowTask) -> dict[str, Any]:
    """Quantify a flow task's samples, cache each, return their summaries."""
    from .flow import quantify_samples

    def body() -> list[dict[str, Any]]:
        exp = Experiment(path=task.manifest, spec=task.spec, samplesheet=task.rows)
        outcomes = quantify_samples(exp, task.panel, task.targets, task.subset, out=task.out, plots=task.plots)
        units = []
        for outcome, key in zip(outcomes, task.keys, strict=True):
            record = {"sample_id": outcome.sample_id, "panel": outcome.panel, "file": outcome.file,
                      "failure": outcome.failure, "provenance": outcome.provenance,
                      "gatingml": outcome.gatingml, "plot": outcome.plot}
            path = store(task.cache, key, record, {"records": outcome.records, "populations": outcome.populations,
                                                   "qc": outcome.qc})
            units.append(_unit(f"flow:{task.panel}", outcome.sample_id, key, outcome.failure, _qc_summary(outcome.qc),
                               str(path)))
        return units

    def on_error(reason: str) -> list[dict[str, Any]]:
        return [_unit(f"flow:{task.panel}", sid, key, reason, {}, None, cached=False)
                for sid, key in zip(task.targets, task.keys, strict=True)]

    return _timed("flow", task.plate, body, on_error)


def run_assay_task(task: AssayTask) -> dict[str, Any]:
    """Quantify one assay plate, cache it, return its summary."""
    from .assay import quantify_plate

    stage = f"assay:{task.assay.id}"

    def body() -> list[dict[str, Any]]:
        s = task.settings
        outcome = quantify_plate(task.root, task.assay, curve_model=s.curve_model, weighting=s.weighting,
                                 plots_dir=task.out / "plots" if s.plots else None)
        record = {"assay": outcome.assay, "failure": outcome.failure, "settings": outcome.settings,
                  "leniencies": outcome.leniencies, "plots": outcome.plots}
        path = store(task.cache, task.key, record, {"wells": outcome.wells, "curves": outcome.curves,
                                                    "masks": outcome.masks})
        curves = outcome.curves
        qc = {"curves": int(len(curves)),
              "accepted": int(curves["accepted"].astype(bool).sum()) if "accepted" in curves else 0}
        return [_unit(stage, "", task.key, outcome.failure, qc, str(path))]

    return _timed("assay", task.plate, body, lambda reason: [_unit(stage, "", task.key, reason, {}, None, False)])


def run_assemble_task(task: AssembleTask, *dependencies: dict[str, Any]) -> dict[str, Any]:
    """Assemble the experiment's outputs once every unit is cached; cache and return the summary.

    ``dependencies`` are the summaries of the experiment's tasks (they only
    order the work: everything is read from the cache).
    """
    from ..experiment import read_experiment
    from .assemble import assemble, control_qc

    def body() -> list[dict[str, Any]]:
        missing = [u for u in task.units if not result_path(task.cache, u.key).is_file()]
        if missing:
            names = ", ".join(f"{u.stage} {u.sample_id}".strip() for u in missing[:5])
            raise RuntimeError(f"{len(missing)} unit(s) have no result ({names})")
        result = assemble(read_experiment(task.manifest), task.units, task.cache, task.out, task.settings)
        failures = result.failures.to_dict("records")
        record = {"failures": failures, "warnings": result.warnings, "score": result.comparison.score,
                  "outputs": {k: str(task.out / v) for k, v in OUTPUTS.items()}, "qc": control_qc(result)}
        path = store(task.cache, task.key, record)
        return [{**_unit("assemble", "", task.key, None, record["qc"], str(path)), "record": record}]

    return _timed("assemble", task.plate, body,
                  lambda reason: [_unit("assemble", "", task.key, reason, {}, None, False)])


def cached_assemble(task: AssembleTask) -> dict[str, Any]:
    """The summary of an experiment whose outputs are already written (nothing to run)."""
    record, _ = load(task.cache, task.key)
    unit = {**_unit("assemble", "", task.key, None, record["qc"], str(result_path(task.cache, task.key)),
                    computed=False), "record": record}
    now = time.time()
    return {"kind": "assemble", "plate": task.plate, "units": [unit], "started": now, "finished": now,
            "seconds": 0.0, "worker": ""}


def _unit(stage: str, sample_id: str, key: str, failure: str | None, qc: dict[str, Any], output: str | None,
          cached: bool = True, computed: bool = True) -> dict[str, Any]:
    return {"stage": stage, "sample_id": sample_id, "key": key, "status": "failed" if failure else "ok",
            "reason": failure, "qc": qc, "output": output, "stored": cached, "computed": computed}
