"""``msclab assay fit``: standard curves and concentrations from an assay export."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import typer

from .._files import atomic_write
from ..assay.plots import save_curve_plots
from ..assay.quantification import AssayResult, quantify
from ..assay.read import read_assay
from ..io.assay_export import AssayExport
from ..provenance import Provenance
from ..settings import CurveModel, Weighting
from ._common import EXIT_SAMPLES_FAILED, console, console_err

assay_app = typer.Typer(
    name="assay",
    help="Cytokine assays (ELISA, Luminex, Bio-Plex, bead arrays): standard curves and concentrations.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

#: Columns of ``concentrations.csv`` (the design contract first, then extras).
CONCENTRATION_COLUMNS = (
    "plate", "well", "sample_id", "sample_type", "analyte", "signal", "concentration", "unit", "flag",
    "ci_low", "ci_high", "dilution", "level", "expected_concentration", "concentration_in_well",
    "recovery_pct", "range", "flag_reason", "replicate_n", "replicate_mean", "replicate_sd", "replicate_cv",
    "vendor_concentration", "vendor_flag",
)
#: Columns of ``curves.csv`` (the design contract first, then extras).
CURVE_COLUMNS = (
    "plate", "analyte", "model", "weighting", "params", "lloq", "uloq", "accepted", "reason",
    "unit", "direction", "lod", "lod_signal", "levels_in_range", "fraction_passing", "n_standards",
    "n_masked", "sigma", "hook", "warnings",
)


def _read(export: Path, layout: Path | None, fmt: str, beads: Path | None = None) -> AssayExport:
    """Read the export (kept separate so tests can substitute the reader)."""
    return read_assay(export, format=fmt, layout=layout, beads=beads)


def _write_csv(frame: pd.DataFrame, columns: tuple[str, ...], path: Path) -> None:
    present = [c for c in columns if c in frame.columns]
    with atomic_write(path, newline="") as handle:
        frame.loc[:, present].to_csv(handle, index=False)


@assay_app.command("fit")
def fit(
    export: Path = typer.Argument(..., help="Assay export: plate reader, xPONENT CSV, Bio-Plex workbook, ..."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder."),
    layout: Path | None = typer.Option(None, "--layout", help="Plate layout (standards, blanks, samples, dilutions)."),
    fmt: str = typer.Option("auto", "--format", help="Export format; 'auto' recognises it."),
    model: CurveModel = typer.Option("5pl", "--model", help="Curve model."),
    weighting: Weighting = typer.Option("1/y^2", "--weighting", help="Weights of the standards in the fit."),
    weight_floor: float | None = typer.Option(
        None, "--weight-floor", help="Floor of |signal| in the weights (signal units); 1 matches xPONENT on Net MFI."),
    no_masking: bool = typer.Option(False, "--no-masking", help="Keep every standard (no outlier masking)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write one PNG per plate x analyte."),
    beads: Path | None = typer.Option(
        None, "--beads", help="Bead-array panel YAML (LEGENDplex/CBA read on a cytometer): EXPORT is then a folder "
                              "of FCS files, one per well; files named by standard level (C7..C0) are the standards."),
) -> None:
    """Fit standard curves and write concentrations with flags.

    Writes OUT/concentrations.csv (one row per plate x well x analyte: signal,
    concentration multiplied by the dilution, 95 % CI, flag), OUT/curves.csv
    (one row per plate x analyte: parameters, LLOQ/ULOQ, ICH M10 acceptance),
    OUT/masks.csv (every standard left out of a fit, with why), OUT/plots/ and
    OUT/provenance.json. Exits 1 when some curve failed or was not accepted.
    """
    from .experiment import check_out_folder

    check_out_folder(out)
    prov = Provenance(command="assay fit", parameters={
        "export": str(export), "layout": str(layout) if layout else None, "format": fmt, "model": model,
        "weighting": weighting, "weight_floor": weight_floor, "mask_outliers": not no_masking,
        "beads": str(beads) if beads else None,
    })
    data = _read(export, layout, fmt, beads)
    prov.add_input(export, role="assay export")
    if layout is not None:
        prov.add_input(layout, role="plate layout")
    for what in data.leniencies:
        prov.add_leniency(export, what)
    result = quantify(data, model, weighting, weight_floor=weight_floor, mask_outliers=not no_masking)
    _write_outputs(result, out, plots)
    failed = result.curves.loc[~result.curves["accepted"].astype(bool), ["plate", "analyte", "reason"]]
    prov.steps["curves"] = json.loads(result.curves.to_json(orient="records"))
    prov.steps["masks"] = json.loads(result.masks.to_json(orient="records"))
    prov.steps["settings"] = result.settings
    prov.write(out / "provenance.json")
    console.print(f"{len(result.curves)} curves, {len(result.curves) - len(failed)} accepted; results in {out}")
    if len(failed):
        for row in failed.itertuples(index=False):
            console_err.print(f"curve {row.plate} / {row.analyte} not usable: {row.reason}", highlight=False)
        raise typer.Exit(EXIT_SAMPLES_FAILED)


def _write_outputs(result: AssayResult, out: Path, plots: bool) -> None:
    _write_csv(result.wells, CONCENTRATION_COLUMNS, out / "concentrations.csv")
    _write_csv(result.curves, CURVE_COLUMNS, out / "curves.csv")
    _write_csv(result.masks, tuple(result.masks.columns), out / "masks.csv")
    if plots:
        save_curve_plots(result, out / "plots")


def register(app: typer.Typer) -> None:
    """Add the ``assay`` commands to ``app``."""
    app.add_typer(assay_app, name="assay")
