"""Batch normalisation of flow-cytometry intensities with a reference (bridge) sample.

The same control sample acquired in every batch shows how each channel's
intensity scale drifted. Per channel, the quantiles of the control in a batch
are mapped onto its quantiles in the reference batch by a monotone
piecewise-linear function, and that function is applied to every sample of
the batch: the quantile-normalisation idea of CytoNorm (Van Gassen et al.,
Cytometry A 2020;97:268-278), here without its clustering step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import MsclabError

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
