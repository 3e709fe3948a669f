"""Gate plots: each resolved gate drawn on its parent's events (PNG files, or any matplotlib Axes).

One figure per sample and panel, one axis per gate: a 2-D density (log
colour scale) with the gate's ellipse, polygon, rectangle or quadrant lines,
or a histogram with the threshold for one-dimensional gates, labelled with
each population's % of parent. The axes are in gating coordinates
(compensated, transformed), so what is drawn is exactly what was applied.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
from matplotlib import patches
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from .._files import atomic_path
from .._parallel import fork_map
from .gating.gates import EllipsoidGate, PolygonGate, RectangleGate
from .protocols.resolve import ResolvedSample

_NCOLS = 4
#: Fewest plots worth a worker process (a plot takes ~0.5 s, a fork a few milliseconds).
_MIN_PLOTS_PER_PROCESS = 2
_GATE_COLOUR = "#d62728"
#: Size of one gate's cell (inches), and the room its labels take around the axes: left, right,
#: bottom, top (axis title; the figure title takes ``_TITLE`` more at the top).
_CELL = (3.4, 3.1)
_PAD = (0.62, 0.12, 0.45, 0.28)
_TITLE = 0.3


def _margins(nrows: int, ncols: int) -> dict[str, float]:
    """Fixed subplot margins that leave room for the tick and axis labels (as ``tight_layout`` would, but
    without laying out every text twice, which took half the time of a gate plot)."""
    width, height = _CELL[0] * ncols, _CELL[1] * nrows
    left, right, bottom, top = _PAD
    axis_w = _CELL[0] - left - right
    axis_h = _CELL[1] - bottom - top
    return {"left": left / width, "right": 1 - right / width, "bottom": bottom / height,
            "top": 1 - (top + _TITLE) / height, "wspace": (left + right) / axis_w, "hspace": (bottom + top) / axis_h}


def gate_figure(sample: ResolvedSample, *, title: str | None = None) -> Figure:
    """Draw every resolved gate of one sample, one axis per gate, on a new figure (no pyplot, no backend change).

    Parameters
    ----------
    sample
        The resolved sample.
    title
        Figure title (default: the sample id).
    """
    gates = [(label, rec) for label, rec in sample.gates.items() if rec["method"] != "boolean"]
    nrows = max(1, math.ceil(len(gates) / _NCOLS))
    ncols = min(_NCOLS, max(1, len(gates)))
    fig = Figure(figsize=(_CELL[0] * ncols, _CELL[1] * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False, gridspec_kw=_margins(nrows, ncols))
    for ax, (label, _) in zip(axes.ravel(), gates, strict=False):
        draw_gate(ax, sample, label)
    for ax in axes.ravel()[len(gates):]:
        ax.axis("off")
    fig.suptitle(title or sample.events.sample_id, fontsize=11)
    return fig


def plot_sample(sample: ResolvedSample, path: str | PathLike[str], *, title: str | None = None) -> Path:
    """Draw every resolved gate of one sample (:func:`gate_figure`) and save a PNG.

    Parameters
    ----------
    sample
        The resolved sample.
    path
        The PNG to write (atomically).
    title
        Figure title (default: the sample id).

    Returns
    -------
    Path
        ``path``.
    """
    fig = gate_figure(sample, title=title)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    return target


def plot_samples(jobs: Sequence[tuple[ResolvedSample, str | PathLike[str], str | None]], *,
                 n_jobs: int | None = None) -> list[Path]:
    """Draw several samples' gate plots (:func:`plot_sample`), in worker processes where that is safe.

    Parameters
    ----------
    jobs
        ``(sample, path, title)`` per plot.
    n_jobs
        At most this many processes (None: every usable core; 1: this
        process). See :func:`msclab._parallel.fork_map`.

    Returns
    -------
    list of Path
        The PNGs written, in the order of ``jobs``.
    """
    return fork_map(_plot_job, jobs, n_jobs=n_jobs, min_per_process=_MIN_PLOTS_PER_PROCESS)


def _plot_job(job: tuple[ResolvedSample, str | PathLike[str], str | None]) -> Path:
    sample, path, title = job
    return plot_sample(sample, path, title=title)


def _axis_label(sample: ResolvedSample, channel: str) -> str:
    marker = sample.events.markers.get(channel)
    return f"{marker} ({channel})" if marker and marker != channel else channel


def _limits(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [0.2, 99.8])
    pad = 0.08 * (hi - lo or 1.0)
    return float(lo - pad), float(hi + pad)


def draw_gate(ax, sample: ResolvedSample, label: str) -> None:
    """Draw the gate ``label`` of a resolved sample on ``ax``: its parent's events and the gate's shape.

    Parameters
    ----------
    ax
        A matplotlib Axes.
    sample
        The resolved sample.
    label
        A key of ``sample.gates``.
    """
    record = sample.gates[label]
    names = record["populations"]
    parent = sample.mask(record["parent"])
    channels = list(record["dimensions"].values())
    gates = [sample.tree.populations[sample.ids[n]].shape for n in names]
    x = sample.events.values(channels[0])[parent]
    xlim = _limits(x)
    freq = {n: 100.0 * sample.membership[n].sum() / max(int(parent.sum()), 1) for n in names}
    if len(channels) == 1:
        ax.hist(x, bins=160, range=xlim, color="#555555", histtype="stepfilled", alpha=0.7)
        for gate in gates:
            lo, hi = gate.bounds[0]
            cut = lo if lo is not None else hi
            ax.axvline(cut, color=_GATE_COLOUR, lw=1.5)
            ax.axvspan(cut if lo is not None else xlim[0], xlim[1] if lo is not None else cut,
                       color=_GATE_COLOUR, alpha=0.08)
        ax.set_ylabel("events", fontsize=8)
        ax.set_xlim(xlim)
    else:
        y = sample.events.values(channels[1])[parent]
        ylim = _limits(y)
        hist, xe, ye = np.histogram2d(x, y, bins=128, range=(xlim, ylim))
        hist[hist == 0] = np.nan
        ax.imshow(hist.T, origin="lower", extent=(xe[0], xe[-1], ye[0], ye[-1]), aspect="auto",
                  norm=LogNorm(vmin=1), cmap="viridis", interpolation="nearest")
        for gate in gates:
            _draw_shape(ax, gate, xlim, ylim)
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
        ax.set_ylabel(_axis_label(sample, channels[1]), fontsize=8)
    ax.set_xlabel(_axis_label(sample, channels[0]), fontsize=8)
    ax.set_title(f"{record['parent']} -> {label}", fontsize=8)
    text = "\n".join(f"{n}: {freq[n]:.2f}%" for n in names)
    ax.text(0.02, 0.98, text, transform=ax.transAxes, va="top", fontsize=7, color=_GATE_COLOUR,
            bbox={"facecolor": "white", "alpha": 0.7, "lw": 0})
    ax.tick_params(labelsize=7)
    _decade_ticks(ax, sample, channels[0], "x")
    if len(channels) > 1:
        _decade_ticks(ax, sample, channels[1], "y")


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _decade_ticks(ax, sample: ResolvedSample, channel: str, axis: str) -> None:
    """Label a fluorescence axis in data units: 0 and ±10^k at their transformed positions, minor ticks between."""
    if sample.events.is_scatter(channel):
        return
    lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    candidates = [(0.0, "0")] + [(sign * 10.0 ** k, ("-" if sign < 0 else "") + "10" + str(k).translate(_SUPERSCRIPT))
                                 for k in range(7, 0, -1) for sign in (1, -1)]
    major: dict[float, str] = {}
    for value, label in candidates:  # zero and the larger decades first; crowded ones near zero are dropped
        position = sample.events.to_scale(channel, value)
        if lo <= position <= hi and all(abs(position - p) >= 0.08 * (hi - lo) for p in major):
            major[position] = label
    if not major:
        return
    minor = [p for k in range(1, 8) for sign in (-1, 1) for m in range(2, 10)
             if lo <= (p := sample.events.to_scale(channel, sign * m * 10.0 ** k)) <= hi]
    target = ax.xaxis if axis == "x" else ax.yaxis
    positions = sorted(major)
    target.set_ticks(positions, [major[p] for p in positions])
    target.set_ticks(minor, minor=True)


def _draw_shape(ax, gate, xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
    style = {"fill": False, "edgecolor": _GATE_COLOUR, "lw": 1.5}
    if isinstance(gate, EllipsoidGate):
        cov = np.asarray(gate.covariance)
        vals, vecs = np.linalg.eigh(cov)
        angle = math.degrees(math.atan2(vecs[1, 1], vecs[0, 1]))
        w, h = 2 * np.sqrt(vals[::-1] * gate.distance_square)
        ax.add_patch(patches.Ellipse(gate.mean, w, h, angle=angle, **style))
    elif isinstance(gate, PolygonGate):
        ax.add_patch(patches.Polygon(gate.vertices, closed=True, **style))
    elif isinstance(gate, RectangleGate):
        (x0, x1), (y0, y1) = gate.bounds
        x0 = xlim[0] if x0 is None else x0
        x1 = xlim[1] if x1 is None else x1
        y0 = ylim[0] if y0 is None else y0
        y1 = ylim[1] if y1 is None else y1
        ax.add_patch(patches.Rectangle((x0, y0), x1 - x0, y1 - y0, **style))
