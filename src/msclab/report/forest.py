"""The forest plot: observed effects with CIs beside the catalogue's expected directions."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

VERDICT_COLOURS = {
    "concordant": "#1b7837", "discordant": "#b2182b", "inconclusive": "#777777",
    "literature_conflicting": "#e08214",
}
ARROWS = {"up": "↑", "down": "↓", "no_change": "≈", "conflicting": "⇅", "context_dependent": "◐"}
SCALE_LABELS = {
    "log2_fc": "log2 fold change (MSC / control)",
    "log2_ratio": "log2 ratio of frequencies (MSC / control)",
    "pct_suppression": "% suppression of division (positive: fewer cells divided)",
}


def plotted_arrow(expected: str, scale: str) -> str:
    """The expected direction as it reads on the plotted axis.

    On the % suppression scale a readout expected to go down (less division)
    is a positive suppression, so the arrow points up, the way the point
    should lie.
    """
    if scale == "pct_suppression" and expected in ("up", "down"):
        expected = "up" if expected == "down" else "down"
    return ARROWS.get(expected, "?")


def forest_png(comparison: pd.DataFrame) -> bytes | None:
    """PNG of :func:`forest_figure`; None if nothing was measured."""
    fig = forest_figure(comparison)
    if fig is None:
        return None
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def forest_figure(comparison: pd.DataFrame) -> Figure | None:
    """The measured comparison rows, one panel per effect scale; None if nothing was measured.

    Each row shows the estimate and its CI coloured by verdict, with the
    catalogue's expected direction as an arrow at the right. The figure is
    not attached to pyplot (no backend is chosen or changed).
    """
    rows = comparison[comparison["verdict"].isin(list(VERDICT_COLOURS))].copy()
    if rows.empty:
        return None
    rows["label"] = rows["effect_id"].astype(str) + "  (" + rows["contrast"].astype(str) + ")"
    scales = list(dict.fromkeys(rows["scale"]))
    sizes = [max(1, int((rows["scale"] == s).sum())) for s in scales]
    fig = Figure(figsize=(8.5, 1.2 * len(scales) + 0.3 * sum(sizes)), dpi=110)
    axes = fig.subplots(len(scales), 1, gridspec_kw={"height_ratios": sizes}, squeeze=False)
    for ax, scale in zip(axes[:, 0], scales, strict=True):
        part = rows[rows["scale"] == scale].iloc[::-1]
        for i, row in enumerate(part.itertuples()):
            colour = VERDICT_COLOURS[row.verdict]
            if np.isfinite(row.ci_low) and np.isfinite(row.ci_high):
                ax.plot([row.ci_low, row.ci_high], [i, i], color=colour, lw=2)
            if np.isfinite(row.observed):
                ax.plot(row.observed, i, "o", color=colour, ms=6)
            ax.annotate(plotted_arrow(str(row.expected), scale), xy=(1.01, i), xycoords=("axes fraction", "data"),
                        va="center", fontsize=11)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(np.arange(len(part)), part["label"], fontsize=8)
        ax.set_ylim(-0.7, len(part) - 0.3)
        ax.set_xlabel(SCALE_LABELS.get(scale, scale), fontsize=8)
    axes[0, 0].set_title("Observed effect (95% CI) and the review's expected direction on this axis (arrow)",
                         fontsize=10)
    handles = [Line2D([], [], color=c, marker="o", lw=2, label=v.replace("_", " "))
               for v, c in VERDICT_COLOURS.items() if v in set(rows["verdict"])]
    axes[-1, 0].legend(handles=handles, fontsize=7, loc="best", frameon=False)
    fig.tight_layout()
    return fig
