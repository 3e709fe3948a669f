"""Commands about a whole experiment: ``validate``, ``init`` and ``analyze``."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from ..errors import MsclabError
from ..settings import CurveModel, Settings, Weighting
from ._common import (EXIT_BAD_INPUT, EXIT_SAMPLES_FAILED, console, console_err, print_problem, quiet_interrupts,
                      step_display)


ALLOW_HELP = ("A further folder the experiment may read files from (repeatable). By default every path in "
              "experiment.yaml and the samplesheet must stay inside the folder of experiment.yaml.")


def find_experiment(path: Path) -> Path:
    """``path`` itself, or the ``experiment.yaml`` of the folder ``path``."""
    if path.is_dir():
        candidate = path / "experiment.yaml"
        if not candidate.is_file():
            raise MsclabError("this folder holds no experiment.yaml", file=path,
                              hint="Give the experiment.yaml, or draft one with 'msclab init FOLDER'.")
        return candidate
    return path


def check_out_folder(out: Path) -> None:
    """Refuse an output path that is an existing file (before any work is done)."""
    if out.exists() and not out.is_dir():
        raise MsclabError("the output path is a file, not a folder", file=out,
                          hint="Give -o a folder (it is created if missing).")


def validate(
    experiment: Path = typer.Argument(..., help="The experiment.yaml to check, or its folder."),
    allow: list[Path] = typer.Option([], "--allow", help=ALLOW_HELP),
) -> None:
    """Check an experiment without computing anything.

    Checks the manifest, the samplesheet, that every file exists and carries the
    detectors of its panel, that wells are on the plate, that sample ids are unique,
    that every control a panel relies on is there for every donor, and that each
    contrast selects samples. Prints each panel's gate plan (gates that will run, and
    optional gates skipped because the panel lacks their markers); a missing core
    marker is a problem naming the experiment.yaml line. Lists **every** problem (file, line or field, what to
    do) and exits with code 2 if there is any; exit 0 when all is well.
    """
    from ..experiment import validate_experiment
    from ..flow.overrides import override_problems
    from ..flow.protocols.plan import experiment_gate_plans, format_plan

    experiment = find_experiment(experiment)
    problems = validate_experiment(experiment, allow=allow)
    plans, plan_problems = experiment_gate_plans(experiment) if experiment.is_file() else ({}, [])
    problems += [p for p in plan_problems if str(p) not in {str(q) for q in problems}]
    for panel, plan in plans.items():
        console.print(f"panel {panel!r}: gate plan", highlight=False, markup=False)
        for line in format_plan(plan):
            console.print(f"  {line}", highlight=False, markup=False)
    problems = problems or override_problems(experiment)  # gates/overrides/ (docs/review.md)
    if problems:
        console_err.print(f"[bold red]{len(problems)} problem{'s' if len(problems) != 1 else ''}[/] in {experiment}:",
                          keep=[str(experiment)])
        for problem in problems:
            print_problem(problem)
        raise typer.Exit(EXIT_BAD_INPUT)
    console.print(f"[green]OK[/]: {experiment} is valid.")


def init(
    folder: Path = typer.Argument(..., help="Folder with the FCS files and assay exports of one experiment."),
    out: Path | None = typer.Option(None, "-o", "--out", help="Where to write the drafts (default: FOLDER)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing experiment.yaml / samplesheet.csv."),
) -> None:
    """Draft experiment.yaml and samplesheet.csv from a folder of instrument files.

    Fills in what the files say (plate and well from $CARRIERID/$LOCATIONID,
    $PLATEID/$WELLID or the file name; sample from $SRC; panels from the $PnS
    markers; assay exports and their layouts) and marks what only you know with
    **TODO** cells (donor, condition, MSC ratio, stimulus, timepoint). Fill them in,
    then run 'msclab validate'.
    """
    from ..experiment.draft import draft_experiment
    from ..io.fcs import open_fcs
    from .._files import atomic_write

    if not folder.is_dir():
        raise MsclabError("is not a folder", file=folder, hint="Give the folder that holds the FCS files.")
    out = out or folder
    targets = [out / "experiment.yaml", out / "samplesheet.csv"]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        raise MsclabError("already exists", file=existing[0],
                          hint="Use --force to overwrite it, or -o to write the drafts elsewhere.")

    def read_channels(path: Path):  # -> (keywords, channel table), see draft_markers
        fcs = open_fcs(path)
        var = fcs.var[["pns", "type"]].rename(columns={"pns": "marker"}).astype({"type": str})
        var.loc[fcs.time_channels(), "type"] = "time"
        return fcs.keywords, var

    manifest, sheet = draft_experiment(folder.resolve(), out.resolve(), read_channels)
    with atomic_write(targets[0]) as handle:
        handle.write("# Drafted by 'msclab init'. Replace every TODO, then run 'msclab validate'.\n")
        yaml.safe_dump(manifest, handle, sort_keys=False, allow_unicode=True)
    with atomic_write(targets[1], newline="") as handle:
        sheet.to_csv(handle, index=False)
    from ..experiment.validate import count_todo, count_todo_fields

    n_cells, n_fields = count_todo(sheet), count_todo_fields(manifest)
    console.print(f"Drafted {targets[0]} and {targets[1]}: {len(sheet)} files, {len(manifest['panels'])} panel(s), "
                  f"{len(manifest['assays'])} assay export(s); {n_cells} TODO cell(s) in {targets[1].name} and "
                  f"{n_fields} TODO field(s) in {targets[0].name} to fill in ('msclab validate' lists them).")
    if not folder.resolve().is_relative_to(out.resolve()):
        console.print(f"The drafts name files outside {out}: check and analyse them with --allow {folder} "
                      "(msclab reads only inside the experiment's folder unless told otherwise).", highlight=False)


def analyze(
    experiment: Path = typer.Argument(..., help="The experiment.yaml to analyse."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (created)."),
    curve_model: CurveModel = typer.Option("5pl", "--curve-model", help="Standard-curve model."),
    weighting: Weighting = typer.Option("1/y^2", "--weighting", help="Curve weighting."),
    n_boot: int = typer.Option(2000, "--n-boot", min=100, help="Bootstrap resamples for the intervals."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of every random step (results are reproducible)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw gate and standard-curve plots."),
    allow: list[Path] = typer.Option([], "--allow", help=ALLOW_HELP),
    discovery: bool = typer.Option(False, "--discovery", help=(
        "Also cluster every flow panel's events (self-organising map; Leiden with method: leiden; UMAP), "
        "name the clusters and test their paired differential abundance; writes OUT/discovery/PANEL/ and sets "
        "the named populations' estimates beside the gated ones in comparison.csv (docs/discovery.md).")),
) -> None:
    """Run the whole pipeline: gate, quantify, fit curves, estimate effects, compare with the review.

    Writes OUT/report.html (open it in a browser), readouts.h5ad and readouts.csv (sample x
    readout), effects.csv (paired by donor, per contrast), comparison.csv (a verdict per
    catalogue effect, with citations), populations.csv, concentrations.csv, curves.csv,
    failures.csv and provenance.json. Exit code 0 when every sample was analysed, 1 when some
    failed (they are listed), 2 for bad input.
    """
    settings = Settings(curve_model=curve_model, weighting=weighting, n_boot=n_boot, seed=seed, plots=plots,
                        discovery=discovery)
    check_out_folder(out)
    experiment = find_experiment(experiment)
    from ..pipeline import analyze as run

    quiet_interrupts()
    if console.is_terminal:  # the current step on one line; nothing extra when piped
        with step_display(console, "analysing") as show:
            result = run(experiment, out, settings, allow=allow,
                         progress=lambda step: show(f"analysing: {step} ({experiment.parent.name})"))
    else:
        result = run(experiment, out, settings, allow=allow)
    console.print(result.comparison.summary, highlight=False)
    console.print(f"Report: {out / 'report.html'}", keep=[str(out / "report.html")])
    for warning in result.warnings:
        console_err.print(f"[bold yellow]Warning:[/] {warning}", highlight=False)
    if result.n_failed:
        console_err.print(f"[bold yellow]{result.n_failed} sample(s) failed[/] (see failures.csv):")
        for row in result.sample_failures.itertuples():
            console_err.print(f"  - {row.sample_id or '(assay)'} [{row.stage}]: {row.reason}", highlight=False, markup=False)
        raise typer.Exit(EXIT_SAMPLES_FAILED)


def register(app: typer.Typer) -> None:
    """Add the experiment commands to ``app``."""
    app.command("analyze")(analyze)
    app.command("validate")(validate)
    app.command("init")(init)
