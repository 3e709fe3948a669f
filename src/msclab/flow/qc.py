"""Acquisition quality control of one FCS file, and event counts of reported populations.

Checks (one row each, with the value, the limit and whether it passed):

- ``flow_rate_cv``: coefficient of variation of the event rate over
  :data:`TIME_BINS` equal time bins; above :data:`MAX_RATE_CV` the flow was
  unstable (clogs, bubbles). flowAI (Monaco et al., Bioinformatics
  2016;32:2473) and flowClean (Fletez-Brant et al., Cytometry A 2016;89:461)
  flag the same symptom.
- ``signal_shift``: the largest move of a fluorescence channel's mean over
  time bins, on the gating scale (0-1, logicle); above
  :data:`MAX_SIGNAL_SHIFT` (about a fifth of a decade) the signal drifted.
  The mean, not the median, because the median of a bimodal channel jumps
  between its peaks with small changes in the mix.
- ``margin_events``: % of events on the top of any channel's range
  (saturated) or at or below zero on FSC-A/SSC-A; above :data:`MAX_MARGIN_PCT`.
- ``events:<population>``: events in every reported population; below
  :data:`MIN_EVENTS` (100) its frequencies carry the ``low_events`` flag
  downstream, because a percentage of fewer than 100 events has a binomial
  error of several points.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .protocols.sample import SampleEvents

MIN_EVENTS = 100
TIME_BINS = 20
MAX_RATE_CV = 0.2
MAX_SIGNAL_SHIFT = 0.05
MAX_MARGIN_PCT = 2.0

QC_COLUMNS = ("sample_id", "check", "value", "limit", "passed")


def _time_channel(events: SampleEvents) -> str | None:
    return next((c for c in events.channels if c.upper() == "TIME"), None)


def acquisition_qc(events: SampleEvents) -> pd.DataFrame:
    """Return the flow-rate, signal-stability and margin checks of one sample (:data:`QC_COLUMNS`)."""
    rows = []
    time_ch = _time_channel(events)
    if time_ch is not None and events.n_events >= TIME_BINS * 10:
        time = events.linear(time_ch)
        edges = np.linspace(np.nanmin(time), np.nanmax(time), TIME_BINS + 1)
        counts, _ = np.histogram(time, bins=edges)
        cv = float(np.std(counts) / np.mean(counts)) if np.mean(counts) else np.nan
        rows.append(("flow_rate_cv", cv, MAX_RATE_CV, bool(cv <= MAX_RATE_CV)))
        shift = _signal_shift(events, time, edges)
        rows.append(("signal_shift", shift, MAX_SIGNAL_SHIFT, bool(shift <= MAX_SIGNAL_SHIFT)))
    margin = _margin_pct(events)
    rows.append(("margin_events", margin, MAX_MARGIN_PCT, bool(margin <= MAX_MARGIN_PCT)))
    return pd.DataFrame([(events.sample_id, *r) for r in rows], columns=list(QC_COLUMNS))


def _signal_shift(events: SampleEvents, time: np.ndarray, edges: np.ndarray) -> float:
    which = np.clip(np.searchsorted(edges, time, side="right") - 1, 0, len(edges) - 2)
    worst = 0.0
    for channel in events.channels:
        if events.is_scatter(channel):
            continue
        values = events.values(channel)
        finite = np.isfinite(values)
        sums = np.bincount(which[finite], weights=values[finite], minlength=len(edges) - 1)
        counts = np.bincount(which[finite], minlength=len(edges) - 1)
        means = sums[counts > 0] / counts[counts > 0]
        if len(means):
            worst = max(worst, float(np.max(np.abs(means - values[finite].mean()))))
    return worst


def _margin_pct(events: SampleEvents) -> float:
    at_margin = np.zeros(events.n_events, dtype=bool)
    for j, channel in enumerate(events.channels):
        if channel.upper() == "TIME":
            continue
        raw = np.asarray(events.data[:, j], dtype=float)
        at_margin |= raw >= events.ranges[channel] - 1
        if channel.upper() in {"FSC-A", "SSC-A"}:
            at_margin |= raw <= 0
    return 100.0 * float(at_margin.mean()) if events.n_events else 0.0


def population_qc(populations: pd.DataFrame, min_events: int = MIN_EVENTS) -> pd.DataFrame:
    """Return an ``events:<population>`` check per row of a population table (:data:`QC_COLUMNS`)."""
    return pd.DataFrame({
        "sample_id": populations["sample_id"],
        "check": "events:" + populations["population"],
        "value": populations["count"].astype(float),
        "limit": float(min_events),
        "passed": populations["count"] >= min_events,
    }, columns=list(QC_COLUMNS))
