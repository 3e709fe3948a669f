"""Progress of a batch: a rich live display, JSON lines for pipelines, or nothing (``--quiet``)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import IO, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class Reporter:
    """Counts what a batch has done; subclasses show it.

    ``start`` gets the totals, ``task`` every task summary as it arrives,
    ``finish`` the run's outcome.
    """

    def __init__(self) -> None:
        self.plates = self.plates_done = self.units = self.done = self.failed = self.cached = 0
        self.started = time.time()

    def start(self, run_id: str, plates: int, units: int, cached: int, failed: int) -> None:
        """Totals: experiments, units (flow samples + assay plates), units already cached, failed among them."""
        self.plates, self.units, self.cached, self.done, self.failed = plates, units, cached, cached, failed
        self.started = time.time()

    def task(self, summary: dict[str, Any]) -> None:
        """A task finished (its summary from :mod:`msclab.batch.tasks`)."""
        if summary["kind"] == "assemble":
            self.plates_done += 1
            self.failed += sum(u["status"] == "failed" for u in summary["units"])
            return
        self.done += len(summary["units"])
        self.failed += sum(u["status"] == "failed" for u in summary["units"])

    def plate_failed(self, plate: str, reason: str) -> None:
        """An experiment could not be planned (bad manifest)."""
        self.plates_done += 1
        self.failed += 1

    def finish(self, status: str, failures: list[dict[str, Any]],
               warnings: Sequence[dict[str, str]] = ()) -> None:
        """The run ended; ``warnings`` are the experiments' warnings (``plate, warning``)."""

    @property
    def throughput(self) -> float:
        """Units computed per second in this run."""
        elapsed = max(time.time() - self.started, 1e-9)
        return (self.done - self.cached) / elapsed


class QuietReporter(Reporter):
    """Shows nothing."""


class JsonlReporter(Reporter):
    """One JSON object per line on stdout: ``start``, ``task``, ``plate_failed``, ``finish`` events."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__()
        self.stream = stream or sys.stdout

    def _emit(self, event: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": event, "time": time.time(), **fields}, default=str) + "\n")
        self.stream.flush()

    def start(self, run_id: str, plates: int, units: int, cached: int, failed: int) -> None:  # noqa: D102
        super().start(run_id, plates, units, cached, failed)
        self._emit("start", run_id=run_id, plates=plates, units=units, cached=cached, failed=failed)

    def task(self, summary: dict[str, Any]) -> None:  # noqa: D102
        super().task(summary)
        units = [{k: u[k] for k in ("stage", "sample_id", "status", "reason", "computed")} for u in summary["units"]]
        self._emit("task", kind=summary["kind"], plate=summary["plate"], seconds=summary["seconds"],
                   worker=summary["worker"], units=units, done=self.done, total=self.units, failed=self.failed,
                   plates_done=self.plates_done, samples_per_s=round(self.throughput, 3))

    def plate_failed(self, plate: str, reason: str) -> None:  # noqa: D102
        super().plate_failed(plate, reason)
        self._emit("plate_failed", plate=plate, reason=reason)

    def finish(self, status: str, failures: list[dict[str, Any]],
               warnings: Sequence[dict[str, str]] = ()) -> None:  # noqa: D102
        self._emit("finish", status=status, done=self.done, failed=self.failed, failures=failures,
                   warnings=list(warnings),
                   seconds=time.time() - self.started)


class RichReporter(Reporter):
    """A live display: plates, samples done/failed, throughput and ETA."""

    def __init__(self, console: Console | None = None) -> None:
        super().__init__()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(),
            TextColumn("samples {task.completed:.0f}/{task.total:.0f}"),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("plates {task.fields[plates]}"),
            TextColumn("{task.fields[rate]} samples/s"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console or Console(stderr=True), transient=False,
            auto_refresh=False)  # redrawn per event: no refresh thread, so a serial run may fork its fits
        self.bar = None

    def _refresh(self) -> None:
        self.progress.update(self.bar, completed=self.done, total=max(self.units, 1), failed=self.failed,
                             plates=f"{self.plates_done}/{self.plates}", rate=f"{self.throughput:.2f}", refresh=True)

    def start(self, run_id: str, plates: int, units: int, cached: int, failed: int) -> None:  # noqa: D102
        super().start(run_id, plates, units, cached, failed)
        self.progress.start()
        self.bar = self.progress.add_task(f"batch {run_id}", total=max(units, 1), completed=cached, failed=failed,
                                          plates=f"0/{plates}", rate="0.00")
        self._refresh()

    def task(self, summary: dict[str, Any]) -> None:  # noqa: D102
        super().task(summary)
        self._refresh()

    def plate_failed(self, plate: str, reason: str) -> None:  # noqa: D102
        super().plate_failed(plate, reason)
        self.progress.console.print(f"[red]{escape(plate)}[/]: {escape(reason)}", highlight=False)
        if self.bar is not None:
            self._refresh()

    def finish(self, status: str, failures: list[dict[str, Any]],
               warnings: Sequence[dict[str, str]] = ()) -> None:  # noqa: D102
        if self.bar is not None:
            self._refresh()
        self.progress.stop()
