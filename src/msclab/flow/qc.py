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

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .protocols.confidence import FREQUENCY_TOLERANCE_PP, sampling_confidence
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


#: Columns of ``gate_qc.csv`` (design contract).
GATE_QC_COLUMNS = ("sample_id", "panel", "gate", "method", "confidence", "flag", "reason", "override")

#: The ``flag`` of a ``gate_qc.csv`` row (one per row, the first that applies in this order) and what it means.
GATE_FLAGS = {
    "fallback": "the mixture of a cluster gate was not trusted; density-valley thresholds were used",
    "low_confidence": "confidence below the review limit (0.8; see gate_confidence)",
    "control_fallback": "no control sample for a control threshold: the sample's own events set it",
    "skipped": "optional gate skipped: the panel lacks its markers",
}
#: Flags that ask for a look at the gate plot (the review list; the others are informative).
REVIEW_FLAGS = ("fallback", "low_confidence")


def gate_confidence(record: Mapping[str, Any]) -> tuple[str, float, str, str] | None:
    """Return ``(method, confidence, flag, reason)`` of one resolved gate, or None for a fixed gate.

    - ``cluster``: the smaller of the mixture's separation (the chance that the events it
      cannot place, as a share of the parent, leave the frequency within
      :data:`FREQUENCY_TOLERANCE_PP`) and its bootstrap stability
      (:func:`~msclab.flow.protocols.resolvers.cluster_confidence`);
      ``fallback`` when the mixture was replaced by density-valley thresholds.
    - ``threshold`` / ``quadrant``: a valley cut by how far its bootstrap 95%
      interval can move the sample's frequency
      (:func:`~msclab.flow.protocols.resolvers.valley_confidence`); a control
      threshold's by how far the sampling error of its percentile moves the
      sample's frequency (:func:`control_confidence`); a cut beyond a
      lone peak (one-peak ``valley``, ``beyond_peak``) by where that peak lies
      against unstained events
      (:func:`~msclab.flow.protocols.resolvers.single_peak_confidence`);
      ``control_fallback`` when a control was missing.
    - ``singlets``: the share of events on the singlet ridge's core.
    - ``divided``: 1 - the overlap of adjacent dye generations at the cut
      (generation width against one halving).

    Below :data:`LOW_CONFIDENCE` the flag is ``low_confidence`` (unless the gate is a
    mixture ``fallback``); the flags are listed in :data:`GATE_FLAGS`.
    """
    from .protocols.resolvers import LOW_CONFIDENCE

    method = str(record.get("method", ""))
    resolved = record.get("resolved", {}) or {}
    if method == "cluster":
        confidence, reason = float(resolved["confidence"]), str(resolved["reason"])
        flag = "fallback" if resolved.get("fallback") else ""
    elif method == "threshold":
        confidence, reason, flag = _threshold_confidence(resolved)
    elif method == "quadrant":
        axes = [axis for axis in ("x", "y") if axis in resolved]  # one axis when a panel lacks the other
        parts = [_threshold_confidence(resolved[axis]) for axis in axes]
        confidence = min(p[0] for p in parts)
        reason = "; ".join(f"{axis}: {p[1]}" for axis, p in zip(axes, parts))
        flag = next((p[2] for p in parts if p[2]), "")
    elif method == "singlets":
        confidence = float(resolved.get("core_fraction", 1.0))
        reason = f"{100 * confidence:.0f}% of events on the singlet ridge core"
        flag = ""
    elif method == "divided":
        confidence, reason = _divided_confidence(resolved)
        flag = ""
    else:
        return None
    if flag != "fallback" and confidence < LOW_CONFIDENCE:
        flag = "low_confidence"
    return method, round(confidence, 4), flag, reason


def _divided_confidence(resolved: Mapping[str, Any]) -> tuple[float, str]:
    """Confidence of a dye-dilution cut: the overlap of adjacent generations, and cells brighter than undivided.

    1 - the overlap of two generations one halving apart at the fitted width;
    and, when events lie beyond generation 0 of the control
    (``brighter_than_gen0``, :class:`~msclab.flow.proliferation.ProliferationFit`), the
    chance that a frequency off by that share stays within
    :data:`FREQUENCY_TOLERANCE_PP` (:func:`sampling_confidence`): the sample's
    generations do not sit where its control places them.
    """
    sd = float(resolved.get("sd", 0.0))
    confidence = 1.0 - 2.0 * float(stats.norm.cdf(-0.5 / sd)) if sd > 0 else 1.0
    reason = f"dye generation width {sd:.2f} log2 units (one division halves the dye)"
    brighter = float(resolved.get("brighter_than_gen0", 0.0))
    if brighter >= 0.005:
        confidence = min(confidence, sampling_confidence(0.0, brighter))
        reason += (f"; {100 * brighter:.1f}% of the events are brighter than the control's undivided cells: "
                   f"the sample's dye or gain differs from its control's")
    return confidence, reason


def control_confidence(resolved: Mapping[str, Any]) -> tuple[float, str]:
    """Confidence of a threshold read from a control's percentile: how far its sampling error moves the frequency.

    The percentile of ``n`` control events has a distribution-free 95% interval
    (:func:`~msclab.flow.protocols.resolvers.percentile_threshold`); ``ci_share`` is the
    share of the gated sample's own parent events inside it, i.e. how much the
    sample's frequency moves if the cut sits anywhere in the interval. A control
    of few events is therefore flagged only when its events are too few *for this
    sample*: when they can move the frequency by more than
    :data:`FREQUENCY_TOLERANCE_PP` (:func:`sampling_confidence`), not below a fixed count.
    """
    n = int(resolved.get("n_control_events", 0))
    kind = resolved.get("control_type", "control")
    if "ci_share" not in resolved:  # a gating record written before the interval was kept
        return min(1.0, n / 2000), f"{n} control events ({kind}); no sampling interval recorded"
    share = float(resolved["ci_share"])
    match = resolved.get("negative_match") or {}
    shift = float(match.get("shift_share", 0.0))
    confidence = sampling_confidence(share, shift)
    moved = (f"; the sample's negative events sit at {match['gain']:.2f} x the control's{match['offset']:+.0f}, "
             f"and the control's cut moved with them moves the frequency by {100 * abs(shift):.1f} pp"
             if abs(shift) >= 0.005 else "")
    reason = (f"{n} control events ({kind}); the cut's 95% interval holds {100 * share:.1f}% of the sample's "
              f"parent{moved} (P(frequency within {FREQUENCY_TOLERANCE_PP:g} pp) = {confidence:.2f})")
    return confidence, reason


def _threshold_confidence(resolved: Mapping[str, Any]) -> tuple[float, str, str]:
    from .protocols.resolvers import single_peak_confidence, valley_confidence

    method = resolved.get("method")
    flag = "control_fallback" if resolved.get("note") else ""
    if method == "valley":
        found = valley_confidence(resolved)
        reason = found["reason"]
        confidence = found["confidence"]
    elif method == "control":
        confidence, reason = control_confidence(resolved)
    elif method == "beyond_peak" and resolved.get("zero") is not None:
        found = single_peak_confidence(float(resolved["peak"]), float(resolved["spread"]), float(resolved["zero"]),
                                       "below", float(resolved.get("width", 3.0)))
        confidence, reason = found["confidence"], f"cut beyond the negative peak; {found['reason']}"
    elif method == "beyond_peak":
        confidence, reason = 0.7, "no second population: cut beyond the negative peak"
    elif method == "percentile":
        confidence, reason = 0.7, "percentile of the sample itself"
    else:
        confidence, reason = 1.0, "fixed"
    if resolved.get("note"):
        reason = f"{resolved['note']}; {reason}"
    return float(confidence), reason, flag


def gate_qc(gates: Mapping[str, Mapping[str, Mapping[str, Any]]], panel: str,
            skipped: Mapping[str, Mapping[str, str]] | None = None) -> pd.DataFrame:
    """Return one row per data-driven (and skipped) gate of every sample (:data:`GATE_QC_COLUMNS`).

    ``override`` is True for every row of a sample gated with a gate override
    (:mod:`msclab.flow.overrides`; its record carries an ``override`` entry):
    its confidence is that of the automatic gate the override replaced.

    Parameters
    ----------
    gates
        Sample id -> gate label -> resolved record (``PanelResult.gates``).
    panel
        The panel name.
    skipped
        Sample id -> gate label -> why it was skipped; these rows get the
        ``skipped`` flag and no confidence.
    """
    rows = []
    for sid, records in gates.items():
        overridden = "override" in records
        for label, record in records.items():
            found = gate_confidence(record) if label != "override" else None
            if found is not None:
                rows.append((sid, panel, label, *found, overridden))
        for label, reason in (skipped or {}).get(sid, {}).items():
            rows.append((sid, panel, label, "", np.nan, "skipped", reason, overridden))
    table = pd.DataFrame(rows, columns=list(GATE_QC_COLUMNS))
    return table.astype({"confidence": float, "override": bool})


def gate_qc_from_provenance(gating: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Return :func:`gate_qc` of every panel recorded in provenance (``steps['gating']``)."""
    frames = [gate_qc(step.get("samples", {}), panel, step.get("skipped")) for panel, step in gating.items()]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(GATE_QC_COLUMNS))
