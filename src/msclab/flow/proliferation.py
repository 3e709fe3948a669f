"""Dye-dilution proliferation (CFSE, CellTrace Violet): generations by a mixture model.

Each division halves the dye, so on the log2 scale generation ``g`` sits one
unit below generation ``g - 1``. Generation 0 (its position and width) is read
from the unstimulated labelled control (``msc_catalogue.md`` §5.1 item 6:
"set the generation 0 peak with an unstimulated labelled control"); in a
stimulated sample only the proportions of the generations (and a shared
width) are fitted, by EM, as ModFit's and FlowJo's proliferation platforms do
with peaks spaced by halving.

Statistics (Roederer, Cytometry A 2011;79:95, "Interpretation of cellular
proliferation data"), with ``N_g`` the cells in generation ``g`` and
``P_g = N_g / 2**g`` the precursors they came from:

- ``pct_divided``: % of the cells present that divided at least once,
  ``100 * sum_{g>=1} N_g / sum N_g`` (the frequency-of-parent reading);
- ``precursor_pct_divided``: % of the original cells that divided (FlowJo's
  "% Divided"), ``100 * sum_{g>=1} P_g / sum P_g``;
- ``division_index``: average divisions per original cell, ``sum g P_g / sum P_g``;
- ``proliferation_index``: average divisions of the cells that divided,
  ``sum g P_g / sum_{g>=1} P_g``.

% suppression against the matched no-MSC control (catalogue §3.3) is computed
by the normalise layer, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from scipy.ndimage import gaussian_filter1d

from ..errors import MsclabError

_MIN_EVENTS = 50


@dataclass(frozen=True)
class Generation0:
    """The undivided peak on the log2 dye scale.

    Attributes
    ----------
    mean
        log2 intensity of the peak.
    sd
        Its width (SD, log2 units), from the events above the peak.
    n_events
        Events it was read from.
    """

    mean: float
    sd: float
    n_events: int


@dataclass(frozen=True)
class ProliferationFit:
    """Generation proportions of one population.

    Attributes
    ----------
    weights
        Fraction of the cells in generation 0, 1, ...
    gen0
        The generation-0 peak used.
    sd
        The fitted shared peak width (log2 units).
    boundary
        log2 intensity where generation 0 and 1 are equally likely: below it
        a cell is counted as divided.
    n_events
        Events fitted.
    brighter
        Share of the events brighter than generation 0 can be (more than 3
        of its SDs above its peak) beyond the share its fitted weight puts
        there: cells no division explains, because the sample's dye or
        detector gain differs from its control's.
    """

    weights: np.ndarray
    gen0: Generation0
    sd: float
    boundary: float
    n_events: int
    brighter: float = 0.0

    def statistics(self) -> dict[str, float]:
        """Return ``pct_divided, precursor_pct_divided, division_index, proliferation_index``."""
        g = np.arange(len(self.weights))
        precursors = self.weights / 2.0**g
        total = precursors.sum()
        divided = precursors[1:].sum()
        return {
            "pct_divided": 100.0 * float(self.weights[1:].sum()),
            "precursor_pct_divided": 100.0 * float(divided / total),
            "division_index": float((g * precursors).sum() / total),
            "proliferation_index": float((g * precursors).sum() / divided) if divided > 0 else float("nan"),
        }

    def record(self) -> dict[str, Any]:
        """Return the fit as JSON-able data for provenance."""
        return {"gen0_log2": self.gen0.mean, "gen0_sd": self.gen0.sd, "sd": self.sd, "boundary_log2": self.boundary,
                "weights": [round(float(w), 6) for w in self.weights], "n_events": self.n_events,
                "brighter_than_gen0": round(self.brighter, 6),
                **{k: round(v, 6) for k, v in self.statistics().items()}}


def _log2(intensities: np.ndarray) -> np.ndarray:
    v = np.asarray(intensities, dtype=float)
    v = v[np.isfinite(v)]
    return np.log2(np.maximum(v, 1.0))


def generation0(intensities: np.ndarray) -> Generation0:
    """Read the generation-0 peak from an unstimulated control's dye intensities (linear, compensated).

    The peak is the mode of the smoothed log2 histogram; its width comes
    from the events above it, which no division reaches.
    """
    x = _log2(intensities)
    if len(x) < _MIN_EVENTS:
        raise MsclabError(f"only {len(x)} control events to place generation 0",
                          hint="The unstimulated control needs more events in this population.")
    lo, hi = np.percentile(x, [0.5, 99.9])
    counts, edges = np.histogram(x, bins=200, range=(lo, hi))
    i = int(np.argmax(gaussian_filter1d(counts.astype(float), 2.0)))
    mode = float((edges[i] + edges[i + 1]) / 2)
    upper = x[x >= mode] - mode
    sd = float(np.sqrt(np.mean(upper**2))) if len(upper) else 0.1
    return Generation0(mean=mode, sd=max(sd, 0.05), n_events=int(len(x)))


def fit_generations(intensities: np.ndarray, gen0: Generation0, *, generations: int = 7,
                    max_iter: int = 300, tol: float = 1e-7) -> ProliferationFit:
    """Fit generation proportions with peaks at ``gen0.mean - g`` (log2), ``g = 0..generations``.

    Parameters
    ----------
    intensities
        Compensated dye intensities of the population (linear).
    gen0
        Generation 0 from the unstimulated control (:func:`generation0`).
    generations
        The last generation modelled; dimmer events count in it.
    max_iter, tol
        EM limits.
    """
    x = _log2(intensities)
    if len(x) < _MIN_EVENTS:
        raise MsclabError(f"only {len(x)} events to fit proliferation generations")
    means = gen0.mean - np.arange(generations + 1, dtype=float)
    x = np.maximum(x, means[-1])  # beyond the last modelled generation: counted in it
    weights = np.full(len(means), 1.0 / len(means))
    sd = gen0.sd
    previous = -np.inf
    for _ in range(max_iter):
        dens = np.exp(-0.5 * ((x[:, None] - means[None, :]) / sd) ** 2) / sd * weights[None, :]
        total = dens.sum(axis=1, keepdims=True)
        total[total == 0] = 1e-300
        resp = dens / total
        loglik = float(np.log(total).sum())
        weights = resp.mean(axis=0)
        sd = float(np.sqrt((resp * (x[:, None] - means[None, :]) ** 2).sum() / len(x)))
        sd = float(np.clip(sd, 0.8 * gen0.sd, 2.0 * gen0.sd))
        if loglik - previous < tol * abs(loglik):
            break
        previous = loglik
    w0, w1 = max(weights[0], 1e-12), max(weights[1], 1e-12)
    boundary = float(np.clip(gen0.mean - 0.5 + sd**2 * np.log(w1 / w0), means[1], means[0]))
    # Events beyond generation 0's upper tail (3 of its SDs), less what the fitted generation 0 puts there.
    limit = gen0.mean + 3.0 * gen0.sd
    expected = float(weights[0] * stats.norm.sf(limit, loc=gen0.mean, scale=sd))
    brighter = max(0.0, float(np.mean(x > limit)) - expected)
    return ProliferationFit(weights=weights, gen0=gen0, sd=sd, boundary=boundary, n_events=int(len(x)),
                            brighter=brighter)
