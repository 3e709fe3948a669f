"""``msclab plan``: how many donors, which ratios, how many events, before the experiment."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import MsclabError
from ._common import console


def plan(
    out: Path = typer.Option(..., "-o", "--out", help="Folder to write plan.csv and plan.html into (created)."),
    donors: str = typer.Option("3,4,5,6,7,8,10,12", "--donors",
                               help="Donor counts: a range 3..12, a list 3,4,6 or a stepped range 3..12:3 (each >= 2)."),
    ratios: str = typer.Option("1:10,1:50", "--ratios", help="MSC:PBMC ratios, comma-separated; one contrast each against PBMC alone."),
    replicates: int = typer.Option(1, "--replicates", help="Replicate cultures per donor and arm (1 to 20)."),
    events: str = typer.Option("4000,20000", "--events", help="Events per tube: a list or range (each >= 100)."),
    effect: list[str] = typer.Option(
        [], "--effect", help="A catalogue id to plan for (repeat for several). Default: every effect the default "
                             "panels (th_ics, treg) and ELISA assays (IFN-γ, TNF-α, IL-17A, IL-10) measure."),
    source: Path | None = typer.Option(
        None, "--from", help="An earlier `msclab analyze` output folder: estimate effect sizes, donor SD, event "
                             "counts, assay CV and the fraction below LLOQ from it instead of the synthetic defaults."),
    n_sim: int = typer.Option(1000, "--n-sim", help="Simulated experiments per design point (10 to 1000000)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same table."),
    rule: str = typer.Option("estimate", "--rule", help="analyze's verdict rule: estimate (default) or ci."),
    context: str = typer.Option("in_vitro_human", "--context", help="Catalogue context of the verdicts."),
) -> None:
    """Power of `msclab analyze` to call each MSC effect, by donors x ratios x replicates x events.

    For every effect, MSC:PBMC ratio, donor count and events per tube, simulates experiments at
    the readout level (binomial event counts with donor random effects, cytokine concentrations
    with assay noise and LLOQ censoring) and reports the probability that analyze's own verdict
    rule calls the planted effect concordant (power, 95% Wilson interval) and the false-call rate
    with no effect. Writes OUT/plan.csv and OUT/plan.html (power curves, the smallest design
    reaching 80% power per effect, the assumptions with their sources).
    """
    from ..compare.expectations import check_context
    from ..plan.design import PlanDesign, parse_range
    from ..plan.run import run
    from ..plan.sources import default_models

    design = PlanDesign(donors=parse_range(donors), ratios=tuple(r.strip() for r in ratios.split(",") if r.strip()),
                        replicates=replicates, events=parse_range(events), effects=tuple(effect), n_sim=n_sim,
                        seed=seed, rule=rule)
    check_context(context)
    known = default_models()
    unknown = [e for e in effect if e not in known]
    if unknown:
        raise MsclabError(f"--effect {unknown} cannot be planned; allowed: {', '.join(known)}",
                          hint="Ids as in 'msclab catalogue list'.")
    if source is not None and not (source / "effects.csv").is_file():
        raise MsclabError(f"--from {source}: no effects.csv there", hint="Give the -o folder of an earlier `msclab analyze`.")
    result = run(out, design, source, context)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    for r in result.recommendation.itertuples():
        if r.donors == r.donors and r.donors:
            console.print(f"{r.effect_id} {r.contrast}: 80% power with {int(r.donors)} donors, {r.events:,} events "
                          f"(power {r.power:.2f})", highlight=False)
        else:
            console.print(f"{r.effect_id} {r.contrast}: 80% power not reached (best {r.power:.2f})", highlight=False)
    worst = result.table["false_call_rate"].max() if len(result.table) else float("nan")
    console.print(f"Highest false-call rate with no effect: {worst:.3f}. Wrote {out / 'plan.csv'} and {out / 'plan.html'}")


def register(app: typer.Typer) -> None:
    """Add ``plan`` to ``app``."""
    app.command("plan", epilog="Worked example, the simulator's assumptions and how it is calibrated: docs/plan.md.")(plan)
