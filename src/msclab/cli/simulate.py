"""``msclab simulate``: a synthetic MSC co-culture study with known truth."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import MsclabError
from ._common import console


def _parse_effects(items: list[str]) -> dict[str, str]:
    effects = {}
    for item in items:
        effect_id, sep, direction = item.partition("=")
        if not sep:
            raise MsclabError(f"--effect {item!r} is not of the form ID=DIRECTION",
                              hint="Write e.g. --effect treg_frequency=down (directions: up, down, none).")
        effects[effect_id.strip()] = direction.strip().lower()
    return effects


def simulate(
    out: Path = typer.Option(..., "-o", "--out", help="Folder to write the study into (created)."),
    donors: int = typer.Option(6, "--donors", min=1, max=200, help="Number of PBMC donors."),
    events: int = typer.Option(20000, "--events", min=500, max=5_000_000, help="Events per FCS file."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives byte-identical files."),
    null: bool = typer.Option(False, "--null", help="Plant no MSC effect at all (for false-positive checks)."),
    effect: list[str] = typer.Option(
        [], "--effect",
        help="Plant an effect in a chosen direction, e.g. --effect treg_frequency=down (against the "
             "literature) or --effect ifng=none. Repeat for several. Ids as in 'msclab catalogue list'."),
    labels: bool = typer.Option(False, "--labels", help="Also write the true cell type of every event (Parquet)."),
    panels: str = typer.Option(
        "th_ics,treg", "--panels",
        help="Comma-separated panels to acquire, with the controls their protocols need: th_ics, treg, tfh, "
             "b_cells, nk, cd8_ctl, dc, macrophage, msc_identity (the MSC lot). The default study has th_ics,treg."),
    hard: float = typer.Option(
        0.0, "--hard", min=0.0, max=1.0,
        help="Share of the stained cultures (not controls) acquired with a problem, in turn: low events (one "
             "eighth), poor separation (stains at a quarter of their intensity) and shifted (fluorescence gains "
             "doubled against the controls). truth.json names each; for testing review flags."),
) -> None:
    """Write a simulated MSC co-culture study with known truth.

    Each donor's PBMC are cultured stimulated alone, with MSCs at 1:10 and 1:50, and
    unstimulated; every culture is stained with a T-helper ICS panel and a Treg panel
    (with CellTrace Violet), plus a FoxP3 FMO per donor; --panels adds Tfh, B-cell, NK,
    CD8 CTL, DC and macrophage panels and the MSC identity panel. Files are FCS 3.1 from a
    simulated 3-laser cytometer with real spillover ($SPILLOVER), debris, doublets,
    dead cells and MSC carry-over. Supernatants are on ELISA plates (IFN-γ, TNF-α,
    IL-17A, IL-10). truth.json records every planted value.
    """
    from ..simulate import StudyDesign, simulate_study

    try:
        design = StudyDesign(donors=donors, events=events, seed=seed, effects=_parse_effects(effect), null=null,
                             labels=labels, hard=hard, panels=tuple(p.strip() for p in panels.split(",") if p.strip()))
        truth = simulate_study(out, design)
    except ValueError as exc:
        raise MsclabError(str(exc), hint="See 'msclab simulate --help'.") from exc
    n_files = len(truth["files"])
    console.print(f"Wrote {n_files} FCS files, {len(truth['elisa'])} ELISA exports, experiment.yaml, "
                  f"samplesheet.csv and truth.json to {out}")
    console.print(f"Run it with: msclab analyze {out / 'experiment.yaml'} -o {out / 'analysis'}")


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to ``app``."""
    app.command("simulate")(simulate)
