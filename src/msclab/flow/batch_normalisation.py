"""Batch normalisation of flow-cytometry intensities with a reference (bridge) sample.

The same control sample acquired in every batch shows how each channel's
intensity scale drifted. Per channel, the quantiles of the control in a batch
are mapped onto its quantiles in the reference batch by a monotone
piecewise-linear function, and that function is applied to every sample of
the batch: the quantile-normalisation idea of CytoNorm (Van Gassen et al.,
Cytometry A 2020;97:268-278), here without its clustering step.

:func:`normalise_events` applies it to a panel's events before gating, as
``experiment.yaml`` asks (:class:`msclab.experiment.model.BatchNormalisation`):
the maps are fitted and applied on the gating scale (compensated, then
logicle/asinh), and the moved events are written back as FCS-scale values so
the gating engine and the exported gate trees see the normalised events.
The reference is the batch's own bridge sample, so the method needs one in
every batch (docs/normalisation.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import MsclabError
from ..experiment.model import BatchNormalisation
from .protocols.sample import SampleEvents, _inverse

#: Quantiles matched between a batch's control and the reference control.
DEFAULT_QUANTILES = np.linspace(0.01, 0.99, 99)


@dataclass
class QuantileMap:
    """A per-channel monotone map from one batch's intensity scale to the reference's.

    Attributes
    ----------
    channels
        Channel names, in column order.
    source, target
        Per channel, the control's quantiles in this batch and in the reference batch.
    """

    channels: list[str]
    source: dict[str, np.ndarray] = field(default_factory=dict)
    target: dict[str, np.ndarray] = field(default_factory=dict)

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Map events (events x channels, in :attr:`channels` order) onto the reference scale.

        Inside the control's quantile range the map is piecewise linear; beyond
        it the end segments are extended linearly, so extreme events keep their order.
        """
        values = np.asarray(values, dtype=float)
        if values.ndim != 2 or values.shape[1] != len(self.channels):
            raise MsclabError(f"expected events x {len(self.channels)} channels, got shape {values.shape}")
        out = np.empty_like(values)
        for j, name in enumerate(self.channels):
            src, tgt = self.source[name], self.target[name]
            out[:, j] = np.interp(values[:, j], src, tgt)
            low = values[:, j] < src[0]
            high = values[:, j] > src[-1]
            out[low, j] = tgt[0] + (values[low, j] - src[0]) * _slope(src[:2], tgt[:2])
            out[high, j] = tgt[-1] + (values[high, j] - src[-1]) * _slope(src[-2:], tgt[-2:])
        return out

    def shift_summary(self) -> dict[str, float]:
        """Per channel, the median of (target - source) quantiles: the size of the correction."""
        return {c: float(np.median(self.target[c] - self.source[c])) for c in self.channels}


def _slope(src: np.ndarray, tgt: np.ndarray) -> float:
    span = src[1] - src[0]
    return float((tgt[1] - tgt[0]) / span) if span > 0 else 1.0


def _strictly_increasing(q: np.ndarray) -> np.ndarray:
    """Make quantiles strictly increasing (ties from discrete data) by the smallest nudge."""
    q = np.asarray(q, dtype=float).copy()
    eps = max(1e-9, 1e-9 * float(np.nanmax(np.abs(q))) if q.size else 1e-9)
    for i in range(1, q.size):
        if q[i] <= q[i - 1]:
            q[i] = q[i - 1] + eps
    return q


def fit_quantile_map(control: np.ndarray, reference: np.ndarray, channels: list[str],
                     quantiles: np.ndarray = DEFAULT_QUANTILES) -> QuantileMap:
    """Fit the map that brings a batch's control onto the reference batch's control.

    Parameters
    ----------
    control
        Events x channels of the bridge sample in the batch to correct
        (transformed scale, e.g. asinh or logicle).
    reference
        Events x channels of the bridge sample in the reference batch.
    channels
        Channel names of the columns.
    quantiles
        Quantile levels to match.

    Returns
    -------
    QuantileMap
    """
    control, reference = np.asarray(control, float), np.asarray(reference, float)
    if control.shape[1] != len(channels) or reference.shape[1] != len(channels):
        raise MsclabError("control and reference must have one column per channel")
    if min(len(control), len(reference)) < 100:
        raise MsclabError("a bridge sample needs at least 100 events per batch to fit quantiles",
                          hint="Acquire more events of the bridge sample.")
    mapping = QuantileMap(list(channels))
    for j, name in enumerate(channels):
        mapping.source[name] = _strictly_increasing(np.quantile(control[:, j], quantiles))
        mapping.target[name] = np.quantile(reference[:, j], quantiles)
    return mapping


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip()


def _channels(events: SampleEvents, spec: BatchNormalisation) -> list[str]:
    if spec.channels:
        return [events.channel(name) for name in spec.channels]
    return [ch for ch in events.channels if ch in events.markers and not events.is_scatter(ch)]


def _moved(events: SampleEvents, mapping: QuantileMap) -> SampleEvents:
    """The sample with ``mapping`` applied on the gating scale, written back as FCS-scale values."""
    scaled = np.column_stack([events.values(ch) for ch in mapping.channels])
    moved = mapping.transform(scaled)
    data = np.array(events.data, dtype=np.float64)
    matrix = events.spillover
    linear = {}
    for j, ch in enumerate(mapping.channels):
        grid = np.linspace(min(moved[:, j].min(), -0.5), max(moved[:, j].max(), 1.5), 20001)
        linear[ch] = np.interp(moved[:, j], grid, _inverse(events.transform(ch), grid))
    compensated = [ch for ch in linear if matrix is not None and matrix.detector_for(ch) is not None]
    if compensated:
        block = np.array(events._compensated(), dtype=np.float64)
        for ch in compensated:
            block[matrix.detectors.index(matrix.detector_for(ch))] = linear[ch]
        data[:, matrix.column_indices(events.channels)] = block.T @ matrix.matrix
    for ch in set(linear) - set(compensated):
        data[:, events.channels.index(ch)] = linear[ch]
    return replace(events, data=data, _linear={}, _values={}, _compensated_block=None)


def normalise_events(samples: Mapping[str, SampleEvents], spec: BatchNormalisation
                     ) -> tuple[dict[str, SampleEvents], dict[str, str], dict[str, Any]]:
    """Bring every batch of a panel onto the reference batch's scale with its bridge samples.

    Parameters
    ----------
    samples
        Sample id -> events of one panel, in samplesheet order; ``info`` holds
        the samplesheet row (the ``spec.batch`` column and ``control_type``).
        The bridge samples (``control_type: bridge``) must be among them.
    spec
        The panel's ``normalisation`` from ``experiment.yaml``.

    Returns
    -------
    samples
        The normalised events (samples of the reference batch unchanged).
    failures
        Sample id -> why it could not be normalised (no batch, no bridge in its
        batch, a bridge too small to fit); these samples are not gated.
    record
        For provenance and the report: the parameters, the bridge samples per
        batch, and per batch and channel the median shift and the bridge's
        10/50/90% quantiles before and on the reference scale.
    """
    batches: dict[str, list[str]] = {}
    bridges: dict[str, list[str]] = {}
    failures: dict[str, str] = {}
    for sid, events in samples.items():
        batch = _text(events.info.get(spec.batch))
        if not batch:
            failures[sid] = f"batch normalisation: the samplesheet gives no {spec.batch!r} for this sample"
            continue
        batches.setdefault(batch, []).append(sid)
        if _text(events.info.get("control_type")).lower() == "bridge":
            bridges.setdefault(batch, []).append(sid)
    reference = spec.reference_batch or next((b for b in batches if b in bridges), None)
    record: dict[str, Any] = {"method": "quantile", "batch_column": spec.batch, "reference_batch": reference,
                              "quantiles": spec.quantiles, "bridges": bridges, "channels": [], "batches": {}}
    if reference not in bridges:
        why = (f"batch normalisation: the reference batch {reference!r} has no bridge sample (control_type: bridge)"
               if reference else "batch normalisation: no batch has a bridge sample (control_type: bridge)")
        return {}, {**failures, **{sid: why for members in batches.values() for sid in members}}, record
    levels = np.linspace(0.01, 0.99, spec.quantiles)
    first = samples[bridges[reference][0]]
    channels = _channels(first, spec)
    record["channels"] = [first.markers.get(ch, ch) for ch in channels]

    def pooled(sids: list[str]) -> np.ndarray:
        return np.vstack([np.column_stack([samples[s].values(samples[s].channel(ch)) for ch in channels])
                          for s in sids])

    target = pooled(bridges[reference])
    out: dict[str, SampleEvents] = {}
    for batch, members in batches.items():
        if batch == reference:
            out.update({sid: samples[sid] for sid in members})
            record["batches"][batch] = {"samples": len(members), "reference": True}
            continue
        try:
            if batch not in bridges:
                raise MsclabError(f"batch {batch!r} has no bridge sample (control_type: bridge)")
            mapping = fit_quantile_map(pooled(bridges[batch]), target, channels, levels)
        except MsclabError as exc:
            failures.update({sid: f"batch normalisation: {exc.message}" for sid in members})
            continue
        for sid in members:
            events = samples[sid]
            own = [events.channel(ch) for ch in channels]
            mapping_own = QuantileMap(own, dict(zip(own, mapping.source.values(), strict=True)),
                                      dict(zip(own, mapping.target.values(), strict=True)))
            out[sid] = _moved(events, mapping_own)
        summary = {}
        for ch, name in zip(channels, record["channels"], strict=True):
            src, tgt = mapping.source[ch], mapping.target[ch]
            summary[name] = {"shift": float(np.median(tgt - src)),
                             "bridge": [float(np.interp(q, levels, src)) for q in (0.1, 0.5, 0.9)],
                             "reference": [float(np.interp(q, levels, tgt)) for q in (0.1, 0.5, 0.9)]}
        record["batches"][batch] = {"samples": len(members), "reference": False, "channels": summary}
    return {sid: out[sid] for sid in samples if sid in out}, failures, record
