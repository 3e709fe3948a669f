"""Standard-curve plots: standards, fitted curve, LLOQ/ULOQ and samples (PNG files, or any matplotlib Axes)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._files import atomic_path
from .qc import Calibration


#: Figure size (inches) and fixed margins with room for six-digit signal ticks and a two-line title
#: (``tight_layout`` would lay every text out once more: half the time of a curve plot).
_FIGSIZE = (5.5, 4.0)
_MARGINS = {"left": 0.15, "right": 0.97, "bottom": 0.12, "top": 0.88}


def plot_curve(cal: Calibration, samples: pd.DataFrame | None = None, title: str = "") -> Figure:
    """Plot one calibration on a new figure (no pyplot, no backend change); see :func:`draw_curve`."""
    fig = Figure(figsize=_FIGSIZE)
    fig.subplots_adjust(**_MARGINS)
    draw_curve(fig.subplots(), cal, samples, title)
    return fig


def draw_curve(ax: Axes, cal: Calibration, samples: pd.DataFrame | None = None, title: str = "") -> Axes:
    """Draw one calibration on log concentration on ``ax``.

    Parameters
    ----------
    ax
        A matplotlib Axes.
    cal
        The calibration (standards, fit, LLOQ/ULOQ).
    samples
        Optional wells with ``concentration_in_well`` and ``signal``; those
        with a concentration are drawn on the curve.
    title
        Axes title.

    Returns
    -------
    Axes
        ``ax``.
    """
    std = cal.standards
    used, masked = std[~std["masked"]], std[std["masked"]]
    ax.scatter(used["expected_concentration"], used["signal"], color="black", s=18, label="standards", zorder=3)
    if len(masked):
        ax.scatter(masked["expected_concentration"], masked["signal"], marker="x", color="red", s=30,
                   label="masked standards", zorder=3)
    fit = cal.fit
    if fit.ok and np.all(np.isfinite(fit.log_x_range)):
        lo, hi = fit.log_x_range
        grid = np.exp(np.linspace(lo - 1.0, hi + 1.0, 200))
        ax.plot(grid, fit.predict(grid), color="tab:blue", label=f"{fit.model} fit ({fit.weighting})")
    if samples is not None and len(samples):
        ok = samples[np.isfinite(samples["concentration_in_well"])]
        ax.scatter(ok["concentration_in_well"], ok["signal"], facecolors="none", edgecolors="tab:orange",
                   s=20, label="samples", zorder=2)
    for value, name in ((cal.lloq, "LLOQ"), (cal.uloq, "ULOQ")):
        if np.isfinite(value):
            ax.axvline(value, color="grey", linestyle="--", linewidth=0.8)
            ax.annotate(name, (value, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                        va="top", ha="right", fontsize=7, color="grey")
    ax.set_xscale("log")
    ax.set_xlabel("concentration (in well)")
    ax.set_ylabel("signal")
    status = "accepted" if cal.accepted else f"not accepted: {cal.reason}"
    ax.set_title(f"{title}\n{status}" if title else status, fontsize=8)
    ax.legend(fontsize=7, loc="best")
    return ax


def save_curve_plots(result, folder: str | Path) -> list[Path]:
    """Write one PNG per plate x analyte of an :class:`~msclab.assay.quantification.AssayResult`."""
    folder = Path(folder)
    written = []
    for (plate, analyte), cal in result.calibrations.items():
        wells = result.wells
        samples = wells[(wells["plate"] == plate) & (wells["analyte"] == analyte) & (wells["sample_type"] != "standard")]
        fig = plot_curve(cal, samples, title=f"{plate} / {analyte}")
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"curve_{plate}_{analyte}") + ".png"
        with atomic_path(folder / name) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        written.append(folder / name)
    return written
