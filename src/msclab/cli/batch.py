"""``msclab batch``: many experiments on Dask, resumable, with a run registry.

``msclab batch INPUTS... -o OUT`` runs a batch and ``msclab batch status OUT``
shows the registry. ``batch`` is a command group whose first argument picks
the command: ``status`` shows the registry, ``run`` (optional, hidden) runs,
and anything else is the first input of a run (a folder literally called
``status`` or ``run`` can be given as ``./status``).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table
from typer.core import TyperGroup

from ..errors import MsclabError
from ..settings import CurveModel, Settings, Weighting
from ._common import EXIT_SAMPLES_FAILED, console, console_err, quiet_interrupts, state

_RUN = "run"


class _RunByDefault(TyperGroup):
    """A group whose unknown first argument is an input of the (hidden) ``run`` command."""

    def resolve_command(self, ctx, args: list[str]):  # noqa: D102 - click API
        if args and args[0] in self.commands:
            return super().resolve_command(ctx, args)
        return _RUN, self.commands[_RUN], args


batch_app = typer.Typer(
    name="batch", cls=_RunByDefault, no_args_is_help=True, rich_markup_mode="markdown",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    help=(
        "Analyse many experiments (plates, studies) on Dask, resumably, with a run registry.\n\n"
        "* `msclab batch INPUTS... -o OUT [--workers N | --scheduler ADDR | --serial]`: run "
        "(`msclab batch run --help` lists its options);\n\n"
        "* `msclab batch status OUT [--json]`: what the registry (OUT/runs.sqlite) holds."
    ),
)


@batch_app.command(_RUN, hidden=True)
def run(
    inputs: list[Path] = typer.Argument(..., help="Experiment files or folders (a folder means its experiment.yaml)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder: OUT/EXPERIMENT/ per experiment, runs.sqlite, batch_report.html."),
    workers: int | None = typer.Option(None, "--workers", min=0,
                                       help="Workers of the embedded Dask cluster (default: one per CPU; 0: serial)."),
    serial: bool = typer.Option(False, "--serial", help="Run in this process without Dask (same as --workers 0)."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Address of an existing Dask scheduler."),
    samples_per_task: int | None = typer.Option(
        None, "--samples-per-task", min=1,
        help="At most this many flow samples per task (default: all samples that share the same controls; "
             "1 keeps a worker's memory to one sample and its controls)."),
    curve_model: CurveModel = typer.Option("5pl", "--curve-model", help="Standard-curve model."),
    weighting: Weighting = typer.Option("1/y^2", "--weighting", help="Curve weighting."),
    n_boot: int = typer.Option(2000, "--n-boot", min=100, help="Bootstrap resamples for the intervals."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of every random step (results are reproducible)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw gate and standard-curve plots."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display (failures still go to stderr)."),
    jsonl: bool = typer.Option(False, "--jsonl", help="Progress as JSON lines on stdout, for pipelines."),
) -> None:
    """Run many experiments; per-experiment outputs as `msclab analyze` writes them, plus the registry.

    Work is split into flow tasks (the samples that share the same controls, with those controls)
    and assay tasks (one per plate) and runs on dask.distributed (an embedded LocalCluster, or
    `--scheduler` for an existing cluster), or serially. Results are cached per sample and plate by
    content hash: rerunning skips what is done, and a killed run resumes where it stopped. Exit
    code 0 when every sample was analysed, 1 when some failed (listed), 2 for bad input.
    """
    from .experiment import check_out_folder

    check_options(workers=workers, serial=serial, scheduler=scheduler, quiet=quiet, jsonl=jsonl)
    settings = Settings(curve_model=curve_model, weighting=weighting, n_boot=n_boot, seed=seed, plots=plots)
    check_out_folder(out)
    from ..batch import run_batch
    from ..batch.progress import JsonlReporter, QuietReporter, RichReporter

    state.resumable = True
    quiet_interrupts()

    reporter = JsonlReporter() if jsonl else QuietReporter() if quiet else RichReporter(console_err)
    result = run_batch([str(p) for p in inputs], out, settings=settings, workers=0 if serial else workers,
                       scheduler=scheduler, samples_per_task=samples_per_task, reporter=reporter)
    if not (quiet or jsonl):
        console.print(f"Run {result.run_id}: {result.computed} computed, {result.cached} from cache. "
                      f"Report: {result.out / 'batch_report.html'}", highlight=False)
    if result.warnings and not jsonl:
        plates = len({w["plate"] for w in result.warnings})
        console_err.print(f"[bold yellow]{len(result.warnings)} warning(s) on {plates} plate(s)[/]:")
        for w in result.warnings:
            console_err.print(f"  - {w['plate']}: {w['warning']}", highlight=False, markup=False)
    if result.failures:
        console_err.print(f"[bold yellow]{len(result.failures)} failure(s)[/]:")
        for f in result.failures:
            what = " ".join(x for x in (f["plate"], f["stage"], f["sample_id"]) if x)
            console_err.print(f"  - {what}: {f['reason']}", highlight=False, markup=False)
        raise typer.Exit(EXIT_SAMPLES_FAILED)


def check_options(*, workers: int | None, serial: bool, scheduler: str | None, quiet: bool, jsonl: bool) -> None:
    """Refuse contradictory options of ``msclab batch`` before any work."""
    if scheduler and (serial or workers is not None):
        raise MsclabError("--scheduler cannot be combined with --workers or --serial",
                          hint="Use an existing scheduler, or an embedded cluster of --workers N, or --serial.")
    if serial and workers not in (None, 0):
        raise MsclabError(f"--serial cannot be combined with --workers {workers}",
                          hint="Use --serial (no Dask) or --workers N (an embedded cluster), not both.")
    if quiet and jsonl:
        raise MsclabError("--quiet cannot be combined with --jsonl",
                          hint="--jsonl prints progress as JSON lines; --quiet prints none. Pick one.")


@batch_app.command("status")
def status(
    out: Path = typer.Argument(..., help="A batch output folder (holding runs.sqlite)."),
    run_id: str | None = typer.Option(None, "--run", help="Which run to detail (default: the latest)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables."),
) -> None:
    """Show the run registry: every run, then the plates and failures of the latest (or --run) run."""
    from ..batch import Registry
    from ..batch.run import REGISTRY

    path = out / REGISTRY
    if not path.is_file():
        raise MsclabError("no run registry here", file=path, hint="Give the -o folder of an `msclab batch` run.")
    registry = Registry(path)
    try:
        runs = registry.runs()
        chosen = run_id or (runs[-1]["run_id"] if runs else None)
        if run_id and run_id not in {r["run_id"] for r in runs}:
            raise MsclabError(f"no run {run_id!r} in the registry", file=path,
                              hint=f"Its runs are: {', '.join(r['run_id'] for r in runs)}.")
        plates = registry.plates(chosen) if chosen else []
        samples = registry.samples(chosen) if chosen else []
    finally:
        registry.close()
    if as_json:
        typer.echo(json.dumps({"runs": runs, "run": chosen, "plates": plates, "samples": samples}, indent=2,
                              default=str))
        return
    _print_status(runs, chosen, plates, samples)


#: Characters of a content hash shown by ``batch status`` (``--json`` gives the whole hash).
SHORT_HASH = 12


def _cell(column: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)[:SHORT_HASH] if column.endswith("hash") else str(value)


def _table(title: str, rows: list[dict], columns: list[str]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, no_wrap=column in ("run_id", "plate", "sample_id", "status") or column.endswith("hash"))
    for row in rows:
        table.add_row(*[_cell(c, row.get(c)) for c in columns])
    return table


def _print_status(runs: list[dict], chosen: str | None, plates: list[dict], samples: list[dict]) -> None:
    console.print(_table("Runs", runs, ["run_id", "status", "scheduler", "n_plates", "n_units", "n_computed",
                                         "n_cached", "n_failed", "msclab_version"]))
    if chosen is None:
        return
    console.print(_table(f"Plates of run {chosen}", plates, ["plate", "status", "n_units", "n_failed", "seconds",
                                                             "input_hash", "reason"]))
    failed = [s for s in samples if s["status"] == "failed"]
    if failed:
        console.print(_table(f"Failed samples of run {chosen}", failed, ["plate", "stage", "sample_id", "reason"]))


def register(app: typer.Typer) -> None:
    """Add the ``batch`` group to ``app``."""
    app.add_typer(batch_app, name="batch")
