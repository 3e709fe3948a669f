"""The plotting functions of :mod:`msclab.pl`; they draw with the helpers the report uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..assay.qc import Calibration
    from ..flow.protocols.resolve import ResolvedSample


def _new_axes(figsize: tuple[float, float]) -> Axes:
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def curve(cal: Calibration, samples: pd.DataFrame | None = None, *, title: str = "", ax: Axes | None = None) -> Axes:
    """Draw a standard curve: standards (masked ones as crosses), the fit, LLOQ/ULOQ and the samples.

    Parameters
    ----------
    cal
        A calibration, e.g. ``result.calibrations[(plate, analyte)]`` of :func:`msclab.assay.quantify`.
    samples
        Wells with ``concentration_in_well`` and ``signal`` to draw on the curve.
    title
        Axes title (the acceptance status is added below it).
    ax
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from ..assay.plots import draw_curve

    return draw_curve(ax if ax is not None else _new_axes((5.5, 4.0)), cal, samples, title)


def gate(sample: ResolvedSample, label: str, *, ax: Axes | None = None) -> Axes:
    """Draw one gate of a resolved sample on its parent's events (2-D density or histogram).

    Parameters
    ----------
    sample
        A resolved sample (``resolve_protocol(...).samples[sample_id]``).
    label
        The gate, a key of ``sample.gates``.
    ax
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from ..flow.plots import draw_gate

    ax = ax if ax is not None else _new_axes((3.4, 3.1))
    draw_gate(ax, sample, label)
    return ax


def gates(sample: ResolvedSample, *, title: str | None = None) -> Figure:
    """Draw every gate of a resolved sample, one axis per gate, as the gate-plot PNGs show them.

    Returns
    -------
    matplotlib.figure.Figure
        A figure not attached to pyplot (display it in a notebook as the cell's value).
    """
    from ..flow.plots import gate_figure

    return gate_figure(sample, title=title)


def forest(comparison: pd.DataFrame) -> Figure | None:
    """Draw the comparison table's measured effects (CI, verdict colour, expected direction).

    Parameters
    ----------
    comparison
        ``Comparison.table`` of :func:`msclab.compare.score` (``comparison.csv``).

    Returns
    -------
    matplotlib.figure.Figure or None
        None when no row was measured.
    """
    from ..report.forest import forest_figure

    return forest_figure(comparison)
