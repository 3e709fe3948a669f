"""Gate plots: each resolved gate drawn on its parent's events (PNG files, or any matplotlib Axes).

One figure per sample and panel, one axis per gate: a 2-D density (events
binned 128 x 128, log colour scale, empty bins white) with the gate's ellipse,
polygon, rectangle or quadrant lines, or a histogram with the threshold for
one-dimensional gates, labelled with each population's % of parent. The axes
are in gating coordinates (compensated, transformed), so what is drawn is
exactly what was applied; fluorescence axes are labelled at decades in data
units (0, 10^k).

What a panel shows is computed once (:func:`gate_panel`) and drawn either on a
matplotlib Axes (:func:`draw_gate`, :func:`gate_figure`, for notebooks) or
painted straight into the PNG files of ``msclab analyze`` (:func:`plot_sample`,
with :mod:`msclab.flow._raster`), which costs a few tens of milliseconds per
sample instead of about a second for the same figure built from matplotlib
artists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from .._files import atomic_path
from .._parallel import Forked, fork_map, fork_start
from .gating.gates import EllipsoidGate, PolygonGate, RectangleGate
from .protocols.resolve import ResolvedSample

_NCOLS = 4
#: Fewest plots worth a worker process (a plot takes a few tens of milliseconds, a fork a few).
_MIN_PLOTS_PER_PROCESS = 4
_GATE_COLOUR = "#d62728"
#: Size of one gate's cell (inches), and the room its labels take around the axes: left, right,
#: bottom, top (axis title; the figure title takes ``_TITLE`` more at the top).
_CELL = (3.4, 3.1)
_PAD = (0.62, 0.12, 0.45, 0.28)
_TITLE = 0.3
#: Resolution of the PNG files (pixels per inch), and their font sizes in pixels (8, 7 and 11 points).
_DPI = 90
_LABEL_PX, _TICK_PX, _SUPTITLE_PX = 10, 9, 14
_BINS_2D, _BINS_1D = 128, 160


@dataclass
class GatePanel:
    """What one gate's axis shows, in gating coordinates (shared by the PNG and the matplotlib drawing).

    ``counts`` is a histogram of the parent's events (``_BINS_1D`` bins) for a
    one-dimensional gate, else a 2-D histogram indexed ``[x bin, y bin]``.
    ``outlines`` are closed polygons (2-D gates); ``cuts`` are thresholds and
    ``spans`` the shaded included ranges (1-D gates). ``x_ticks`` /
    ``y_ticks`` are ``(major [(position, label)], minor positions)`` on decade
    axes, None on linear ones.
    """

    title: str
    xlabel: str
    ylabel: str
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    counts: np.ndarray
    frequencies: list[str]
    outlines: list[np.ndarray] = field(default_factory=list)
    cuts: list[float] = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)
    x_ticks: tuple[list[tuple[float, str]], list[float]] | None = None
    y_ticks: tuple[list[tuple[float, str]], list[float]] | None = None

    @property
    def is_histogram(self) -> bool:
        """True for a one-dimensional gate (a histogram of one channel)."""
        return self.counts.ndim == 1


def _drawn_gates(sample: ResolvedSample) -> list[str]:
    return [label for label, rec in sample.gates.items() if rec["method"] != "boolean"]


def _grid(n: int) -> tuple[int, int]:
    return max(1, math.ceil(n / _NCOLS)), min(_NCOLS, max(1, n))


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
    gates = _drawn_gates(sample)
    nrows, ncols = _grid(len(gates))
    fig = Figure(figsize=(_CELL[0] * ncols, _CELL[1] * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False, gridspec_kw=_margins(nrows, ncols))
    for ax, label in zip(axes.ravel(), gates, strict=False):
        draw_gate(ax, sample, label)
    for ax in axes.ravel()[len(gates):]:
        ax.axis("off")
    fig.suptitle(title or sample.events.sample_id, fontsize=11)
    return fig


def plot_sample(sample: ResolvedSample, path: str | PathLike[str], *, title: str | None = None) -> Path:
    """Draw every resolved gate of one sample, one axis per gate (as :func:`gate_figure`), into a PNG.

    The image is painted directly (:mod:`msclab.flow._raster`), not through
    matplotlib artists; the same sample gives the same bytes in any process.

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
    from ._raster import Canvas, Panel

    gates = _drawn_gates(sample)
    nrows, ncols = _grid(len(gates))
    cell_w, cell_h = round(_CELL[0] * _DPI), round(_CELL[1] * _DPI)
    left, right, bottom, top = (round(p * _DPI) for p in _PAD)
    head = round(_TITLE * _DPI)
    canvas = Canvas(cell_w * ncols, cell_h * nrows + head)
    canvas.text((canvas.image.width / 2, head / 2 + 4), title or sample.events.sample_id, _SUPTITLE_PX)
    for i, label in enumerate(gates):
        spec = gate_panel(sample, label)
        row, col = divmod(i, ncols)
        box = (col * cell_w + left, head + row * cell_h + top, cell_w - left - right, cell_h - top - bottom)
        panel = Panel(box, spec.xlim, spec.ylim)
        _paint(canvas, panel, spec)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        canvas.save_png(tmp)
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


def start_plots(jobs: Sequence[tuple[ResolvedSample, str | PathLike[str], str | None]], *,
                n_jobs: int | None = None) -> Forked:
    """Start drawing the gate plots of :func:`plot_samples` in the background; ``.wait()`` returns their paths.

    Forked processes draw while this process goes on (where forking is not
    safe they are drawn before this returns, see
    :func:`msclab._parallel.fork_start`); the files are the same bytes as
    :func:`plot_samples` writes.
    """
    return fork_start(_plot_job, jobs, n_jobs=n_jobs, min_per_process=_MIN_PLOTS_PER_PROCESS)


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


def gate_panel(sample: ResolvedSample, label: str) -> GatePanel:
    """Compute what the axis of gate ``label`` shows: the parent's events binned, the gate's shape, the labels.

    Parameters
    ----------
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
    n_parent = max(int(parent.sum()), 1)
    common = {"title": f"{record['parent']} -> {label}", "xlabel": _axis_label(sample, channels[0]), "xlim": xlim,
              "frequencies": [f"{n}: {100.0 * sample.membership[n].sum() / n_parent:.2f}%" for n in names],
              "x_ticks": _decade_ticks(sample, channels[0], xlim)}
    if len(channels) == 1:
        counts, _ = np.histogram(x, bins=_BINS_1D, range=xlim)
        panel = GatePanel(ylabel="events", ylim=(0.0, 1.05 * max(int(counts.max(initial=0)), 1)), counts=counts,
                          **common)
        for gate in gates:
            lo, hi = gate.bounds[0]
            panel.cuts += [c for c in (lo, hi) if c is not None]
            panel.spans.append((xlim[0] if lo is None else lo, xlim[1] if hi is None else hi))
        return panel
    y = sample.events.values(channels[1])[parent]
    ylim = _limits(y)
    counts, _, _ = np.histogram2d(x, y, bins=_BINS_2D, range=(xlim, ylim))
    return GatePanel(ylabel=_axis_label(sample, channels[1]), ylim=ylim, counts=counts,
                     outlines=[o for gate in gates if (o := _outline(gate, xlim, ylim)) is not None],
                     y_ticks=_decade_ticks(sample, channels[1], ylim), **common)


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
    from matplotlib import patches

    spec = gate_panel(sample, label)
    if spec.is_histogram:
        edges = np.linspace(*spec.xlim, len(spec.counts) + 1)
        ax.stairs(spec.counts, edges, fill=True, color="#555555", alpha=0.7)
        for lo, hi in spec.spans:
            ax.axvspan(lo, hi, color=_GATE_COLOUR, alpha=0.08)
        for cut in spec.cuts:
            ax.axvline(cut, color=_GATE_COLOUR, lw=1.5)
    else:
        counts = np.where(spec.counts > 0, spec.counts, np.nan)
        ax.imshow(counts.T, origin="lower", extent=(*spec.xlim, *spec.ylim), aspect="auto",
                  norm=LogNorm(vmin=1), cmap="viridis", interpolation="nearest")
        for outline in spec.outlines:
            ax.add_patch(patches.Polygon(outline, closed=True, fill=False, edgecolor=_GATE_COLOUR, lw=1.5))
    ax.set_xlim(spec.xlim)
    ax.set_ylim(spec.ylim)
    ax.set_xlabel(spec.xlabel, fontsize=8)
    ax.set_ylabel(spec.ylabel, fontsize=8)
    ax.set_title(spec.title, fontsize=8)
    ax.text(0.02, 0.98, "\n".join(spec.frequencies), transform=ax.transAxes, va="top", fontsize=7,
            color=_GATE_COLOUR, bbox={"facecolor": "white", "alpha": 0.7, "lw": 0})
    ax.tick_params(labelsize=7)
    for ticks, target in ((spec.x_ticks, ax.xaxis), (spec.y_ticks, ax.yaxis)):
        if ticks is not None:
            major, minor = ticks
            target.set_ticks([p for p, _ in major], [t for _, t in major])
            target.set_ticks(minor, minor=True)


def _paint(canvas, panel, spec: GatePanel) -> None:
    """Paint one gate's axis on a raster canvas (see :mod:`msclab.flow._raster`)."""
    from ._raster import log_density_rgb

    gate_rgba = (214, 39, 40)
    if spec.is_histogram:
        for lo, hi in spec.spans:
            panel.fill([lo, hi, hi, lo], [spec.ylim[0], spec.ylim[0], spec.ylim[1], spec.ylim[1]], (*gate_rgba, 20))
        panel.bars(np.linspace(*spec.xlim, len(spec.counts) + 1), spec.counts, (85, 85, 85, 179))
        for cut in spec.cuts:
            panel.line([cut, cut], list(spec.ylim), _GATE_COLOUR, 1.5)
    else:
        panel.image(log_density_rgb(spec.counts.T[::-1]))
        for outline in spec.outlines:
            panel.line(outline[:, 0], outline[:, 1], _GATE_COLOUR, 1.5, closed=True)
    panel.paint(canvas)
    left, top, width, height = panel.box
    canvas.x_ticks(panel, *(spec.x_ticks or _linear_ticks(spec.xlim)), _TICK_PX)
    widest = canvas.y_ticks(panel, *(spec.y_ticks or _linear_ticks(spec.ylim)), _TICK_PX)
    canvas.text((left + width / 2, top + height + 20), spec.xlabel, _LABEL_PX, anchor="mt")
    canvas.text((left - widest - 14, top + height / 2), spec.ylabel, _LABEL_PX, vertical=True)
    canvas.text((left + width / 2, top - 5), spec.title, _LABEL_PX, anchor="md")
    canvas.text_box((left + round(0.02 * width), top + round(0.02 * height)), spec.frequencies, _TICK_PX,
                    _GATE_COLOUR)


def _linear_ticks(limits: tuple[float, float]) -> tuple[list[tuple[float, str]], list[float]]:
    """Round-number ticks inside ``limits`` (as matplotlib would choose them), labelled with the fewest decimals."""
    from matplotlib.ticker import MaxNLocator

    lo, hi = limits
    values = [v for v in MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi) if lo <= v <= hi]
    if len(values) < 2:
        return [(v, f"{v:g}") for v in values], []
    step = values[1] - values[0]
    decimals = next(d for d in range(12) if abs(round(step, d) - step) <= 1e-9 * abs(step))
    return [(v, f"{v:.{decimals}f}".replace("-", "\u2212")) for v in values], []


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _decade_ticks(sample: ResolvedSample, channel: str,
                  limits: tuple[float, float]) -> tuple[list[tuple[float, str]], list[float]] | None:
    """Ticks of a fluorescence axis in data units: 0 and ±10^k at their transformed positions, minor ticks between.

    None for scatter and time channels (linear axes).
    """
    if sample.events.is_scatter(channel):
        return None
    lo, hi = limits
    candidates = [(0.0, "0")] + [(sign * 10.0 ** k, ("\u2212" if sign < 0 else "") + "10" + str(k).translate(_SUPERSCRIPT))
                                 for k in range(7, 0, -1) for sign in (1, -1)]
    to_scale = sample.events.transform(channel).apply
    positions = to_scale(np.array([value for value, _ in candidates], dtype=float))
    major: dict[float, str] = {}
    for position, (_, label) in zip(positions.tolist(), candidates, strict=True):
        # zero and the larger decades first; crowded ones near zero are dropped
        if lo <= position <= hi and all(abs(position - p) >= 0.08 * (hi - lo) for p in major):
            major[position] = label
    if not major:
        return None
    minor_values = np.array([sign * m * 10.0 ** k for k in range(1, 8) for sign in (-1, 1) for m in range(2, 10)])
    minor = [p for p in to_scale(minor_values).tolist() if lo <= p <= hi]
    return [(p, major[p]) for p in sorted(major)], minor


def _outline(gate, xlim: tuple[float, float], ylim: tuple[float, float]) -> np.ndarray | None:
    """The closed outline of a 2-D gate as polygon vertices (an open rectangle side lies on the axis limit)."""
    if isinstance(gate, EllipsoidGate):
        vals, vecs = np.linalg.eigh(np.asarray(gate.covariance, dtype=float))
        angle = np.linspace(0.0, 2.0 * np.pi, 121)
        circle = np.vstack([np.cos(angle), np.sin(angle)]) * np.sqrt(np.clip(vals, 0.0, None) * gate.distance_square)[:, None]
        return (vecs @ circle).T + np.asarray(gate.mean, dtype=float)
    if isinstance(gate, PolygonGate):
        return np.asarray(gate.vertices, dtype=float)
    if isinstance(gate, RectangleGate):
        (x0, x1), (y0, y1) = gate.bounds
        x0, x1 = xlim[0] if x0 is None else x0, xlim[1] if x1 is None else x1
        y0, y1 = ylim[0] if y0 is None else y0, ylim[1] if y1 is None else y1
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)
    return None  # a shape without an outline (boolean gates are not drawn)
