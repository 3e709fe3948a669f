"""``msclab fcs``: look inside FCS files."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from ..io.fcs import IDENTITY_KEYWORDS, FCSFile, open_fcs
from ._common import console

fcs_app = typer.Typer(
    name="fcs",
    help="Look inside flow cytometry (FCS) files.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@fcs_app.command("info")
def info(
    file: Path = typer.Argument(..., help="An FCS file (.fcs, .lmd, or an instrument file such as .001)."),
    dataset: int | None = typer.Option(
        None, "--dataset", help="Which data set of a multi-data-set file (LMD) to show, from 0. "
        "Default: the first FCS 3.x data set."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables."),
) -> None:
    """Show what an FCS file holds, without reading the events.

    Prints the FCS version, the number of events, every channel (name, stain or
    marker, range, bits, gain, log decades), the keyword the spillover matrix
    comes from, the data sets in the file, and every irregularity msclab
    accepted while reading it ("leniencies"). A file msclab cannot read safely
    gives an error saying where the problem is and what to do.
    """
    fcs = open_fcs(file, dataset=dataset)
    if as_json:
        typer.echo(json.dumps(_summary(fcs), indent=2))
        return
    _print(fcs)


def _summary(fcs: FCSFile) -> dict[str, object]:
    var = fcs.var
    spill = fcs.spillover
    return {
        "file": str(fcs.path),
        "version": fcs.version,
        "dataset": fcs.dataset,
        "data_sets": [ds.summary() for ds in fcs.data_sets],
        "n_events": fcs.n_events,
        "n_channels": len(fcs.channels),
        "channels": [
            {"name": name, "pnn": row.pnn, "pns": row.pns, "range": row.range, "bits": int(row.bits),
             "gain": row.gain, "log_decades": row.log_decades, "type": row.type}
            for name, row in zip(var.index, var.itertuples(), strict=True)
        ],
        "markers": [m for m in var["marker"] if m],
        "spillover_keyword": None if spill is None else spill[1],
        "spillover_detectors": None if spill is None else [str(d) for d in spill[0].columns],
        "timestep": fcs.timestep,
        "identity": {k: fcs.keywords[k] for k in IDENTITY_KEYWORDS if k in fcs.keywords},
        "leniencies": list(fcs.leniencies),
    }


def _print(fcs: FCSFile) -> None:
    summary = _summary(fcs)
    console.print(f"[bold]{fcs.path}[/]", highlight=False)
    console.print(f"FCS {fcs.version}, data set {fcs.dataset} of {len(fcs.data_sets)}: "
                  f"{fcs.n_events:,} events x {len(fcs.channels)} channels", highlight=False)
    for key, value in summary["identity"].items():
        console.print(f"  {key} = {value}", highlight=False, markup=False)
    table = Table("#", "PnN", "PnS (marker)", "type", "range", "bits", "gain", "log decades")
    for i, ch in enumerate(summary["channels"], start=1):
        table.add_row(str(i), ch["name"], ch["pns"], ch["type"], f"{ch['range']:.15g}", str(ch["bits"]),
                      f"{ch['gain']:g}", f"{ch['log_decades']:g}")
    console.print(table)
    console.print("markers: " + (", ".join(summary["markers"]) or "none"), highlight=False)
    spill = summary["spillover_keyword"]
    console.print("spillover: " + (f"{spill} ({len(summary['spillover_detectors'])} detectors)" if spill
                                   else "none in the file"), highlight=False, markup=False)
    if len(fcs.data_sets) > 1:
        console.print("data sets in the file:")
        for ds in summary["data_sets"]:
            console.print(f"  {ds['index']}: FCS {ds['version']}, {ds['n_events']} events x "
                          f"{ds['n_channels']} channels", highlight=False)
    leniencies = summary["leniencies"]
    console.print(f"leniencies applied: {len(leniencies) or 'none'}", highlight=False)
    for note in leniencies:
        console.print(f"  - {note}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``fcs`` command group to ``app``."""
    app.add_typer(fcs_app, name="fcs")
