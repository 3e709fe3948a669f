"""Data-driven gate resolvers: from events to concrete coordinates.

Each resolver takes the parent population's values (already compensated and
transformed) and returns the coordinates of a concrete gate plus a record of
what it found, for provenance. They know nothing about samples or trees.

- :func:`cluster_ellipse`: a Gaussian mixture (scikit-learn) on two
  dimensions; the chosen component's ellipse at a chi-square coverage, as
  openCyto's ``flowClust``/``mindensity``-style automated gates do (Finak et
  al., PLoS Comput Biol 2014;10:e1003806).
- :func:`singlet_band`: a band around the robust line of height against area.
- :func:`density_valley`: the lowest density between the two most prominent
  peaks (openCyto ``mindensity``).
- :func:`percentile_threshold`: a percentile of a control population (FMO or
  unstimulated; Roederer, Cytometry 2001;45:194 for FMO gating).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from ...errors import MsclabError

#: At most this many events are used to fit a mixture (a random subsample, fixed seed).
MAX_FIT_EVENTS = 8000
_SEED = 0


def _subsample(points: np.ndarray, limit: int = MAX_FIT_EVENTS) -> np.ndarray:
    if len(points) <= limit:
        return points
    rng = np.random.default_rng(_SEED)
    return points[rng.choice(len(points), size=limit, replace=False)]


def _finite(*arrays: np.ndarray) -> np.ndarray:
    points = np.column_stack(arrays)
    return points[np.all(np.isfinite(points), axis=1)]


def cluster_ellipse(x: np.ndarray, y: np.ndarray, *, components: int, select: str | dict[str, str],
                    coverage: float, min_weight: float) -> dict[str, Any]:
    """Fit a Gaussian mixture and return one component's ellipse.

    Parameters
    ----------
    x, y
        Parent events on the gating scale.
    components
        Mixture components.
    select
        ``"largest"``, or ``{"x": "high"|"low", "y": ...}``: the component
        whose mean is furthest in those directions (means standardised by the
        data's SD), among components of at least ``min_weight``.
    coverage
        Fraction of the chosen Gaussian the ellipse covers
        (``distance_square`` = chi-square quantile, 2 d.o.f.).
    min_weight
        Smallest mixture weight a selectable component may have.

    Returns
    -------
    dict
        ``mean``, ``covariance``, ``distance_square``, ``weight``,
        ``component`` and ``means`` (all components), JSON-able.
    """
    points = _finite(x, y)
    if len(points) < max(50, 10 * components):
        raise MsclabError(f"only {len(points)} events to fit a {components}-component mixture",
                          hint="The parent population is too small for a data-driven gate.")
    fit_points = _subsample(points)
    with threadpool_limits(1):  # BLAS threads slow these small problems down many-fold
        gmm = GaussianMixture(n_components=components, covariance_type="full", random_state=_SEED,
                              init_params="k-means++", reg_covar=1e-6).fit(fit_points)
    weights = gmm.weights_
    eligible = np.flatnonzero(weights >= min_weight)
    if select == "largest":
        best = int(eligible[np.argmax(weights[eligible])])
    else:
        spread = fit_points.std(axis=0)
        spread[spread == 0] = 1.0
        centred = (gmm.means_ - fit_points.mean(axis=0)) / spread
        score = np.zeros(components)
        for axis, key in enumerate(("x", "y")):
            if key in select:
                score += centred[:, axis] * (1 if select[key] == "high" else -1)
        best = int(eligible[np.argmax(score[eligible])])
    merged = _merge(gmm, best)
    w = weights[merged]
    mean = (w[:, None] * gmm.means_[merged]).sum(axis=0) / w.sum()
    cov = np.zeros((2, 2))
    for weight, mu, sigma in zip(w, gmm.means_[merged], gmm.covariances_[merged]):
        d = (mu - mean)[:, None]
        cov += weight * (sigma + d @ d.T)
    cov /= w.sum()
    return {
        "mean": [float(v) for v in mean],
        "covariance": [[float(v) for v in row] for row in cov],
        "distance_square": float(stats.chi2.ppf(coverage, df=2)),
        "weight": float(w.sum()),
        "components": [int(i) for i in merged],
        "means": [[round(float(v), 5) for v in m] for m in gmm.means_],
        "weights": [round(float(v), 5) for v in weights],
    }


def _merge(gmm: GaussianMixture, best: int, level: float = 0.999) -> list[int]:
    """Return ``best`` and the components whose mean lies inside its ``level`` ellipse.

    A mixture often splits one skewed population into several Gaussians;
    merging them back follows flowMerge (Finak et al., BMC Bioinformatics
    2009;10:S7).
    """
    limit = stats.chi2.ppf(level, df=2)
    precision = np.linalg.inv(gmm.covariances_[best])
    diffs = gmm.means_ - gmm.means_[best]
    d2 = np.einsum("ij,jk,ik->i", diffs, precision, diffs)
    return [best] + [j for j in range(len(gmm.weights_)) if j != best and d2[j] <= limit]


def singlet_band(area: np.ndarray, height: np.ndarray, *, width: float) -> dict[str, Any]:
    """Return the band around the singlet ridge of height against area.

    Singlets lie on a ridge ``height = intercept + slope * area``; doublets
    have more area for their height and fall below it. The ridge is a
    robust line fit (least squares, refitted three times on the events within
    2.5 robust SDs, so doublets and debris do not pull it); its spread is
    the robust SD (1.4826 x MAD) of those events' residuals. The band keeps
    events down to ``width`` spreads below the line and every event above it
    (more height for the area is not a doublet).

    Returns
    -------
    dict
        ``intercept, slope, spread, low, high`` (residual bounds) and the
        area range ``x_min, x_max`` the band spans.
    """
    ok = np.isfinite(area) & np.isfinite(height)
    x, y = area[ok], height[ok]
    if len(x) < 50:
        raise MsclabError(f"only {len(x)} events to find singlets")
    if not np.ptp(x) > 0:
        raise MsclabError("the area signal has no spread (every event has the same value) to find singlets")
    keep = np.ones(len(x), dtype=bool)
    for _ in range(4):
        slope, intercept = np.polyfit(x[keep], y[keep], 1)
        resid = y - (intercept + slope * x)
        scale = 1.4826 * np.median(np.abs(resid[keep] - np.median(resid[keep]))) or 1e-6
        tighter = np.abs(resid) < 2.5 * scale
        if tighter.sum() < 10:  # too few events left to refit: keep the current band
            break
        keep = tighter
    centre = float(np.median(resid[keep]))
    spread = max(float(scale), 1e-6)
    lo, hi = np.percentile(x, [0.0, 100.0])
    pad = 0.05 * (hi - lo or 1.0)
    top = float(np.max(resid - centre)) + spread
    return {"intercept": float(intercept + centre), "slope": float(slope), "spread": spread,
            "low": -width * spread, "high": max(width * spread, top), "x_min": float(lo - pad),
            "x_max": float(hi + pad)}


def _mode(values: np.ndarray, bins: int = 256) -> float:
    lo, hi = np.percentile(values, [0.5, 99.5])
    if hi <= lo:
        return float(np.median(values))
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    smooth = gaussian_filter1d(counts.astype(float), 2.0)
    i = int(np.argmax(smooth))
    return float((edges[i] + edges[i + 1]) / 2)


def density_valley(values: np.ndarray, *, keep: str = "above", between: tuple[float, float] | None = None,
                   width: float = 4.0, separation: float = 0.1, bins: int = 256,
                   smooth: float = 3.0) -> dict[str, Any]:
    """Return the lowest smoothed density between the two most prominent peaks.

    When the density has a single peak, that peak is taken to be the
    population kept, and the cut is placed ``width`` SDs beyond it on the
    other side (``keep="above"``: below the peak); the SD comes from the
    peak's far half, which the excluded events do not reach.

    Parameters
    ----------
    values
        Parent events on the gating scale.
    keep
        ``above`` or ``below``: the side the gate keeps (for a single peak).
    between
        Only consider this range (gating-scale units).
    width
        SDs from a single peak to its cut.
    separation
        Peaks closer than this (gating-scale units) count as one.
    bins, smooth
        Histogram bins over the 0.1-99.9 percentile range, and the Gaussian
        smoothing in bins.
    """
    v = values[np.isfinite(values)]
    if between is not None:
        v = v[(v >= between[0]) & (v <= between[1])]
    if len(v) < 50:
        raise MsclabError(f"only {len(v)} events to find a density valley")
    lo, hi = np.percentile(v, [0.1, 99.9])
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    density = gaussian_filter1d(counts.astype(float), smooth)
    centres = (edges[:-1] + edges[1:]) / 2
    padded = np.concatenate([[0.0], density, [0.0]])
    step = (hi - lo) / bins
    peaks, props = find_peaks(padded, prominence=0.01 * density.max(), distance=max(1, int(separation / step)))
    peaks = peaks - 1
    if len(peaks) < 2:
        mode = float(centres[int(np.argmax(density))])
        far = v[v > mode] - mode if keep == "above" else mode - v[v < mode]
        spread = float(np.sqrt(np.mean(far**2))) if len(far) else 0.0
        cut = mode - width * spread if keep == "above" else mode + width * spread
        return {"threshold": cut, "peaks": [mode], "single_peak": True, "spread": spread}
    top = np.sort(peaks[np.argsort(props["prominences"])[-2:]])
    segment = density[top[0]:top[1] + 1]
    i = top[0] + int(np.argmin(segment))
    return {"threshold": float(centres[i]), "peaks": [float(centres[p]) for p in top],
            "valley_density": float(density[i] / density.max())}


def beyond_peak(values: np.ndarray, *, keep: str = "above", width: float = 3.0) -> dict[str, Any]:
    """Return a cut ``width`` SDs beyond the tallest peak, on the ``keep`` side.

    For a marker whose negative events dominate and whose positive events
    smear into them (no clean valley): the SD of the negative peak is read
    from its half away from the positive events.
    """
    v = values[np.isfinite(values)]
    if len(v) < 50:
        raise MsclabError(f"only {len(v)} events to find the negative peak")
    mode = _mode(v)
    far = mode - v[v < mode] if keep == "above" else v[v > mode] - mode
    spread = float(np.sqrt(np.mean(far**2))) if len(far) else 0.0
    cut = mode + width * spread if keep == "above" else mode - width * spread
    return {"threshold": cut, "peak": mode, "spread": spread}


def percentile_threshold(values: np.ndarray, percentile: float) -> dict[str, Any]:
    """Return the ``percentile`` of a (control) population's values."""
    v = values[np.isfinite(values)]
    if len(v) < 20:
        raise MsclabError(f"only {len(v)} control events to set a threshold")
    return {"threshold": float(np.percentile(v, percentile)), "n_control_events": int(len(v))}
