"""Data-driven gate resolvers: from events to concrete coordinates.

Each resolver takes the parent population's values (already compensated and
transformed) and returns the coordinates of a concrete gate plus a record of
what it found, for provenance. They know nothing about samples or trees.

- :func:`cluster_gate`: a Gaussian mixture (scikit-learn) on two
  dimensions, components chosen by BIC among fits from several starts
  (for a directional rule, two of them at the rule's corner); the polygon
  of the events the target components own (as openCyto's
  ``flowClust``-style automated gates, Finak et al., PLoS Comput Biol
  2014;10:e1003806), with a density-valley fallback and a confidence.
- :func:`singlet_band`: a band around the robust line of height against area.
- :func:`density_valley`: the lowest density between the two most prominent
  peaks (openCyto ``mindensity``).
- :func:`percentile_threshold`: a percentile of a control population (FMO or
  unstimulated; Roederer, Cytometry 2001;45:194 for FMO gating).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flowutils import gating_c as fu_gating_c
from scipy import stats
from scipy.ndimage import distance_transform_edt, gaussian_filter1d
from scipy.signal import find_peaks
from sklearn.cluster import KMeans

from ..._parallel import one_thread
from ...errors import MsclabError
from ._mixture import GaussianMixture
from ._peaks import by_row, find_peaks_rows

#: At most this many events are used to fit a mixture (a random subsample, fixed seed).
MAX_FIT_EVENTS = 8000
_SEED = 0
#: The target region stops where its own components' densities fall below this coverage
#: (chi-square, 2 d.o.f.), so a perfectly separated population is kept whole (99.99%).
_TAIL = 0.9999
#: The squared Mahalanobis distance that holds :data:`_TAIL` of a component.
_TAIL_D2 = float(stats.chi2.ppf(_TAIL, df=2))
#: Smallest number of (fitted) events a selectable component must carry.
_MIN_COMPONENT_EVENTS = 10
#: Rays of the polygon drawn around the assigned region.
_RAYS = 96
#: Points of every ray judged at once while tracing the polygon.
_RAY_BLOCK = 64
#: Below this confidence a data-driven gate is flagged ``low_confidence``.
LOW_CONFIDENCE = 0.8
_BOOTSTRAP = 4
#: Bootstrap resamples of a density-valley cut's histogram for its 95% interval.
VALLEY_BOOTSTRAP = 200
#: A density valley must be found again in this share of those resamples, else the density is one peak.
VALLEY_SUPPORT = 0.95


def _subsample(points: np.ndarray, limit: int = MAX_FIT_EVENTS) -> np.ndarray:
    if len(points) <= limit:
        return points
    rng = np.random.default_rng(_SEED)
    return points[rng.choice(len(points), size=limit, replace=False)]


def _finite(*arrays: np.ndarray) -> np.ndarray:
    points = np.column_stack(arrays)
    return points[np.all(np.isfinite(points), axis=1)]


def _direction(select: str | dict[str, str]) -> np.ndarray | None:
    if select == "largest":
        return None
    return np.array([0.0 if key not in select else (1.0 if select[key] == "high" else -1.0) for key in ("x", "y")])


def _corner(z: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """The mean of the 0.5% of events most extreme in the rule's direction: where its population starts."""
    score = z @ direction
    return z[score >= np.quantile(score, 0.995)].mean(axis=0)


def _em(z: np.ndarray, k: int, **start: Any) -> GaussianMixture:
    """A ``k``-component full-covariance mixture fitted by EM from ``start`` (``init_params`` or ``*_init``)."""
    return GaussianMixture(n_components=k, covariance_type="full", random_state=_SEED, reg_covar=1e-5, **start).fit(z)


def _fit(z: np.ndarray, k: int, direction: np.ndarray | None) -> list[GaussianMixture]:
    """Fit ``k``-component mixtures from a k-means++ start and, for a directional rule, two more starts.

    EM finds a local optimum of the likelihood, so several starts are fitted
    and the BIC keeps the best (Biernacki, Celeux & Govaert, Comput Stat
    Data Anal 2003;41:561). A k-means++ start (one event per component)
    often seeds two components in the largest cluster and none in a small
    one beside it; for a directional rule, whose target is such a small
    cluster, a k-means start (the labels of one k-means run,
    scikit-learn's default) and one of ``k - 1`` k-means centres plus the
    rule's corner (:func:`_corner`) are fitted too. For ``largest`` the
    target is the heaviest component, which the k-means++ start finds.
    """
    fits = [_em(z, k, init_params="k-means++")]
    if direction is not None and k >= 2:
        rest = KMeans(n_clusters=k - 1, n_init=1, random_state=_SEED).fit(z).cluster_centers_
        fits += [_em(z, k, init_params="kmeans"), _em(z, k, means_init=np.vstack([rest, _corner(z, direction)]))]
    return fits


def _grown(z: np.ndarray, previous: GaussianMixture, seed: np.ndarray) -> GaussianMixture:
    """Fit one component more than ``previous``, started by splitting a component at ``seed``.

    The component that ``previous`` weights most at ``seed`` gives half its
    weight and its covariance to a new component centred there; EM then
    refits all of them. Growing the best fit one component at a time is
    greedy mixture learning (Verbeek, Vlassis & Kröse, Neural Comput
    2003;15:469), here with the split of split-and-merge EM (Ueda et al.,
    Neural Comput 2000;12:2109): the components ``previous`` found are
    kept, so a small population at the rule's corner gets its own
    component even when the k-means starts spend two on a large cluster
    (or, when the corner population is itself a k-means cluster, two on it).
    """
    owner = int(np.argmax(_pdf(previous, seed[None, :])[0]))
    weights = previous.weights_.copy()
    weights[owner] /= 2
    return _em(z, len(weights) + 1, weights_init=np.append(weights, weights[owner]),
               means_init=np.vstack([previous.means_, seed]),
               precisions_init=np.concatenate([previous.precisions_, previous.precisions_[owner][None]]))


def _candidates(z: np.ndarray, lowest: int, highest: int, direction: np.ndarray | None) -> list[GaussianMixture]:
    """Mixtures of ``lowest`` to ``highest`` components (:func:`_fit`), each ``k`` also grown from the best ``k - 1``.

    For a directional rule, the fit of ``k - 1`` components with the lowest
    BIC is grown by a component at the rule's corner (:func:`_grown`).
    """
    candidates: list[GaussianMixture] = []
    best: GaussianMixture | None = None
    for k in range(lowest, highest + 1):
        fits = _fit(z, k, direction)
        if best is not None and direction is not None:
            fits.append(_grown(z, best, _corner(z, direction)))
        best = min(fits, key=lambda g: g.bic(z))
        candidates += fits
    return candidates


def _pdf(gmm: GaussianMixture, points: np.ndarray) -> np.ndarray:
    """Weighted density of every component at ``points`` (points x components).

    In closed form from each component's Cholesky factor of the precision
    ``L`` (``precision = L L^T``): ``w exp(-|(x - mu)^T L|^2 / 2) det(L) / (2 pi)``.
    """
    out = np.empty((len(points), len(gmm.weights_)))
    for j, (w, mu, chol) in enumerate(zip(gmm.weights_, gmm.means_, gmm.precisions_cholesky_)):
        y = (points - mu) @ chol
        out[:, j] = (w * np.prod(np.diag(chol)) / (2 * np.pi)) * np.exp(-0.5 * (y[:, 0] ** 2 + y[:, 1] ** 2))
    return out


def _one_mode(gmm: GaussianMixture, a: int, b: int) -> bool:
    """True when components ``a`` and ``b`` form one mode: no dip in their density between the means.

    The density of the two weighted components is evaluated along the segment
    joining their means (the straight-line version of the ridgeline criterion,
    Ray and Lindsay, Ann Stat 2005;33:2042; Hennig, Adv Data Anal Classif
    2010;4:3, "merging Gaussian mixture components"); they are one mode when
    it never drops below 90% of its lower end.
    """
    t = np.linspace(0.0, 1.0, 41)[:, None]
    line = gmm.means_[a] + t * (gmm.means_[b] - gmm.means_[a])
    density = _pdf(gmm, line)[:, [a, b]].sum(axis=1)
    return bool(density.min() >= 0.9 * min(density[0], density[-1]))


def _side_ok(mean: np.ndarray, centre: np.ndarray, direction: np.ndarray) -> bool:
    """True when a (standardised) mean lies on the rule's side of the parent's median on every named axis."""
    return bool(np.all((mean - centre) * direction >= 0))


class _Untrusted(Exception):
    """The mixture cannot be trusted for this gate; the message says why."""


def _target(gmm: GaussianMixture, n_fit: int, direction: np.ndarray | None, centre: np.ndarray,
            min_weight: float, max_fraction: float) -> list[int]:
    """Return the components that make the target population (the picked one and those of its mode)."""
    weights = gmm.weights_
    eligible = [j for j in range(len(weights))
                if weights[j] >= min_weight and weights[j] * n_fit >= _MIN_COMPONENT_EVENTS
                and (direction is None or _side_ok(gmm.means_[j], centre, direction))]
    if not eligible:
        raise _Untrusted("no mixture component lies on the rule's side of the parent population")
    if direction is None:
        best = max(eligible, key=lambda j: weights[j])
    else:
        best = max(eligible, key=lambda j: float((gmm.means_[j] - centre) @ direction))
    chosen = [best]
    for j in sorted(range(len(weights)), key=lambda j: -weights[j]):
        if j in chosen or (direction is not None and not _side_ok(gmm.means_[j], centre, direction)):
            continue
        if weights[chosen].sum() + weights[j] > max_fraction:
            continue
        if any(_one_mode(gmm, i, j) for i in chosen):
            chosen.append(j)
    return chosen


def _inside(gmm: GaussianMixture, chosen: list[int], points: np.ndarray) -> np.ndarray:
    """Events the target owns: posterior of its components >= 0.5, within their 99.99% ellipses."""
    dens = _pdf(gmm, points)
    total = dens.sum(axis=1)
    own = dens[:, chosen].sum(axis=1)
    posterior = np.divide(own, total, out=np.zeros_like(own), where=total > 0)
    near = np.zeros(len(points), dtype=bool)
    for j in chosen:
        diff = points - gmm.means_[j]
        d2 = np.einsum("ij,jk,ik->i", diff, np.linalg.inv(gmm.covariances_[j]), diff)
        near |= d2 <= _TAIL_D2
    return (posterior >= 0.5) & near


def _posterior(gmm: GaussianMixture, chosen: list[int], points: np.ndarray) -> np.ndarray:
    dens = _pdf(gmm, points)
    total = dens.sum(axis=1)
    return np.divide(dens[:, chosen].sum(axis=1), total, out=np.zeros(len(points)), where=total > 0)


def _deepest(gmm: GaussianMixture, chosen: list[int], owned_points: np.ndarray, cells: int = 128) -> np.ndarray:
    """The point deepest inside the region the target owns: the centre of its largest inscribed disc.

    The region (:func:`_inside`) is rasterised on a square grid over the owned
    events (padded by one cell, standardised units) and the cell furthest from
    any cell outside it is taken (Euclidean distance transform, Maurer et al.,
    IEEE TPAMI 2003;25:265): the "pole of inaccessibility" of the region, from
    which rays reach its whole boundary for any convex or star-shaped region.
    A component's mean is not such a point: when another component dominates
    the posterior there, the mean lies outside the region it owns.
    """
    lo, hi = owned_points.min(axis=0), owned_points.max(axis=0)
    step = float(max(np.max(hi - lo), 1e-6)) / (cells - 1)
    lo = lo - step
    n = np.ceil((hi + step - lo) / step).astype(int) + 1
    gx, gy = lo[0] + step * np.arange(n[0]), lo[1] + step * np.arange(n[1])
    grid = np.stack(np.meshgrid(gx, gy, indexing="ij"), axis=-1).reshape(-1, 2)
    inside = _inside(gmm, chosen, grid).reshape(n[0], n[1])
    if not inside.any():
        return np.median(owned_points, axis=0)
    depth = distance_transform_edt(np.pad(inside, 1))[1:-1, 1:-1]  # outside the grid counts as outside the region
    i, j = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return np.array([gx[i], gy[j]])


def _traced(gmm: GaussianMixture, chosen: list[int], z: np.ndarray, owned: np.ndarray,
            reach: float) -> tuple[np.ndarray, np.ndarray]:
    """The polygon of the target's region that best matches the events it owns, and the events it holds.

    The region is traced (:func:`_polygon`) from each chosen component's mean
    and from the region's deepest point (:func:`_deepest`); the polygon kept
    is the one whose events differ from the owned events the least (the
    first on a tie). A trace started where another component dominates the
    posterior collapses to a point; one started deep inside the owned region
    draws it.
    """
    def origins():
        yield from (gmm.means_[j] for j in chosen)
        if owned.any():
            yield _deepest(gmm, chosen, z[owned])  # rasterised only when no mean draws the region exactly

    best: tuple[int, np.ndarray, np.ndarray] | None = None
    for origin in origins():
        polygon = _polygon(gmm, chosen, origin, reach)
        drawn = np.bitwise_and(fu_gating_c.points_in_polygon(polygon, len(polygon), z, len(z)), 1).astype(bool)
        misses = int(np.count_nonzero(drawn != owned))
        if best is None or misses < best[0]:
            best = (misses, polygon, drawn)
        if misses == 0:  # no later polygon can do better (ties keep the first)
            break
    assert best is not None
    return best[1], best[2]


def _polygon(gmm: GaussianMixture, chosen: list[int], origin: np.ndarray, reach: float) -> np.ndarray:
    """Trace the boundary of the target's region along rays from ``origin`` (standardised units).

    Each ray stops at its last point inside the region (:func:`_inside`)
    before the first one outside, out of 599 points to ``reach``.
    """
    angles = np.linspace(0.0, 2 * np.pi, _RAYS, endpoint=False)
    unit = np.column_stack([np.cos(angles), np.sin(angles)])
    radii = np.linspace(0.0, reach, 600)[1:]
    stop = _first_outside(gmm, chosen, origin, unit, radii)
    r = radii[np.maximum(stop - 1, 0)]
    return origin + r[:, None] * unit


def _first_outside(gmm: GaussianMixture, chosen: list[int], origin: np.ndarray, unit: np.ndarray,
                   radii: np.ndarray) -> np.ndarray:
    """The index of the first point of each ray outside the target's region (``len(radii)``: none).

    The rays are walked :data:`_RAY_BLOCK` points at a time, and a ray's
    points beyond its first outside point are not judged. Every point up to
    it is, and :func:`_inside` judges each point by its own arithmetic
    (whichever points share the call), so the index is the one the whole
    grid of points gives (``tests/flow/protocols/test_peaks.py`` compares
    them).
    """
    stop = np.full(len(unit), len(radii))
    going = np.arange(len(unit))
    for start in range(0, len(radii), _RAY_BLOCK):
        block = radii[start:start + _RAY_BLOCK]
        points = origin + block[None, :, None] * unit[going, None, :]
        inside = _inside(gmm, chosen, points.reshape(-1, 2)).reshape(len(going), len(block))
        out = ~inside.all(axis=1)
        stop[going[out]] = start + np.argmin(inside[out], axis=1)
        going = going[~out]
        if not len(going):
            break
    return stop


def cluster_gate(x: np.ndarray, y: np.ndarray, *, components: int, select: str | dict[str, str],
                 min_weight: float, max_fraction: float = 1.0) -> dict[str, Any]:
    """Find a 2-D population with a Gaussian mixture and return the polygon of the events it owns.

    The number of components is chosen by BIC (Schwarz 1978; as flowClust,
    Lo et al., Cytometry A 2008;73:321) between 2 and ``components`` + 1
    (1 and ``components`` for ``largest``), each from several starts
    (:func:`_candidates`); for a directional ``select`` two of them are
    seeded at the rule's corner (the mean of the 0.5% most extreme events
    that way), so a population of a few dozen events gets a component. The
    target is the component furthest in the rule's direction among those on
    the rule's side of the parent's median (at least ``min_weight`` and 10
    events), joined by components that form one mode with it
    (:func:`_one_mode`) as long as the total stays within ``max_fraction``.
    The population is every event the target owns (posterior >= 0.5 and
    within 99.99% of its components), drawn as a polygon, so its size is not
    cut by a coverage fraction. When the mixture cannot be trusted (no
    component on the rule's side, or the target exceeds ``max_fraction``),
    the gate falls back to one density-valley threshold per named axis
    (:func:`density_valley`), and says why.

    Returns
    -------
    dict
        ``shape`` (``polygon`` with ``vertices``, or ``rectangle`` with
        ``bounds``), ``fraction`` (of the fitted parent events),
        ``components`` chosen, ``means``, ``weights``, ``bic``, and the
        ``confidence`` record (:func:`cluster_confidence`); ``fallback``
        gives the reason when the thresholds were used.
    """
    points = _finite(x, y)
    if len(points) < 50:
        raise MsclabError(f"only {len(points)} events to fit a mixture",
                          hint="The parent population is too small for a data-driven gate.")
    fit_points = _subsample(points)
    centre, spread = fit_points.mean(axis=0), fit_points.std(axis=0)
    spread[spread == 0] = 1.0
    z = (fit_points - centre) / spread
    direction = _direction(select)
    median = np.median(z, axis=0)
    lowest = 1 if direction is None else 2
    with one_thread():  # BLAS threads slow these small problems down many-fold
        highest = max(lowest, components) + (0 if direction is None else 1)
        candidates = _candidates(z, lowest, highest, direction)
        gmm = min(candidates, key=lambda g: g.bic(z))
        try:
            chosen = _target(gmm, len(z), direction, median, min_weight, max_fraction)
            owned = _inside(gmm, chosen, z)
            if owned.mean() > max_fraction:
                raise _Untrusted(f"the mixture's population holds {100 * owned.mean():.0f}% of the parent, "
                                 f"more than the rule allows ({100 * max_fraction:.0f}%)")
        except _Untrusted as exc:
            return _threshold_fallback(points, select, str(exc))
        reach = float(np.abs(z).max()) * 1.5 + 1.0
        polygon, drawn = _traced(gmm, chosen, z, owned, reach)
        confidence = cluster_confidence(gmm, chosen, z, direction, median, min_weight, max_fraction, drawn=drawn)
    vertices = polygon * spread + centre
    return {
        "shape": "polygon",
        "vertices": [[float(a), float(b)] for a, b in vertices],
        "fraction": float(owned.mean()),
        "n_components": int(len(gmm.weights_)),
        "components": [int(i) for i in chosen],
        "means": [[round(float(v), 5) for v in m * spread + centre] for m in gmm.means_],
        "weights": [round(float(v), 5) for v in gmm.weights_],
        "bic": float(gmm.bic(z)),
        **confidence,
    }


def cluster_confidence(gmm: GaussianMixture, chosen: list[int], z: np.ndarray, direction: np.ndarray | None,
                       centre: np.ndarray, min_weight: float, max_fraction: float,
                       drawn: np.ndarray | None = None) -> dict[str, Any]:
    """Return how far a mixture gate's population size can be trusted.

    - ``separation``: the probability that the frequency stays within
      :data:`~msclab.flow.protocols.confidence.FREQUENCY_TOLERANCE_PP` (2 points) of its value
      given the events the fitted model cannot place. Under the mixture an
      event belongs to the target with its posterior probability, so the
      population holds ``m_in`` (the summed 1 - posterior of the events it
      owns) events that belong outside and misses ``m_out`` (the summed
      posterior of the events outside) that belong in it (the expected
      misclassification of a mixture's hard assignment, McLachlan & Peel,
      *Finite Mixture Models*, 2000, §1.15). The frequency's error lies
      between ``-m_out`` and ``+m_in``: a band of ``(m_in + m_out) / n``
      of the parent, judged like a control threshold's interval
      (:func:`~msclab.flow.protocols.confidence.sampling_confidence`). A population of a few
      percent with a soft boundary is therefore trusted when the events it
      could gain or lose are a small share of the parent. ``drawn`` (the
      fitted events inside the polygon that is drawn, which is what the
      frequency counts) adds its difference from the events the mixture owns
      as a known offset (``drawn_offset``, a share of the parent): a polygon
      that misses the owned region is not trusted however clean the mixture.
    - ``stability``: 1 - the relative spread (max - min over mean) of the
      population's size when the mixture is refitted on bootstrap resamples
      of the events (Efron 1979), starting from the fitted components; a
      refit that finds no target (where the gate would fall back) counts as
      size 0. It asks whether the mixture finds the same population again,
      so it stays relative to the population's size.

    ``confidence`` is the smaller of the two; below :data:`LOW_CONFIDENCE`
    the gate is flagged. ``misassigned_share`` is ``(m_in + m_out) / n``.
    """
    from .confidence import FREQUENCY_TOLERANCE_PP, sampling_confidence

    posterior = _posterior(gmm, chosen, z)
    owned = _inside(gmm, chosen, z)
    misassigned = float((1 - posterior[owned]).sum() + posterior[~owned].sum()) / len(z)
    offset = float(drawn.mean() - owned.mean()) if drawn is not None else 0.0
    separation = sampling_confidence(misassigned, offset)
    rng = np.random.default_rng(_SEED)
    sizes = [owned.mean()]
    for _ in range(_BOOTSTRAP):
        sample = z[rng.integers(0, len(z), len(z))]
        refit = GaussianMixture(n_components=len(gmm.weights_), covariance_type="full", reg_covar=1e-5,
                                weights_init=gmm.weights_, means_init=gmm.means_,
                                precisions_init=gmm.precisions_, random_state=_SEED).fit(sample)
        try:
            again = _target(refit, len(z), direction, centre, min_weight, max_fraction)
        except _Untrusted:
            sizes.append(0.0)
            continue
        sizes.append(float(_inside(refit, again, z).mean()))
    sizes_arr = np.asarray(sizes)
    stability = max(0.0, 1.0 - float(np.ptp(sizes_arr) / sizes_arr.mean())) if sizes_arr.mean() > 0 else 0.0
    confidence = min(separation, stability)
    drawn_note = (f" (its polygon keeps {100 * (owned.mean() + offset):.1f}%)" if abs(offset) >= 0.005 else "")
    reason = (f"keeps {100 * owned.mean():.1f}% of the parent{drawn_note} ({100 * (1 - owned.mean()):.1f}% "
              f"excluded); expected misassigned events {100 * misassigned:.1f}% of the parent "
              f"(separation: P(frequency within {FREQUENCY_TOLERANCE_PP:g} pp) = {separation:.2f}), "
              f"bootstrap size stability {stability:.2f} over {_BOOTSTRAP} refits")
    return {"confidence": round(confidence, 4), "separation": round(separation, 4),
            "misassigned_share": round(misassigned, 6), "drawn_offset": round(offset, 6),
            "stability": round(stability, 4), "reason": reason}


def _threshold_fallback(points: np.ndarray, select: str | dict[str, str], why: str) -> dict[str, Any]:
    """Two 1-D density-valley cuts (one per axis the rule names) instead of the mixture."""
    if select == "largest":
        raise MsclabError(f"the mixture gate cannot be trusted: {why}",
                          hint="Check the parent population in the gate plot.")
    bounds: list[list[float | None]] = [[None, None], [None, None]]
    records = {}
    for axis, key in enumerate(("x", "y")):
        if key not in select:
            continue
        keep = "above" if select[key] == "high" else "below"
        record = density_valley(points[:, axis], keep=keep)
        if record.get("single_peak"):
            # No (reproduced) valley on this axis: the mixture found no component on the rule's side, so the
            # lone peak is the parent's bulk the rule's population departs from, not that population; cut
            # beyond it on the rule's side (beyond_peak), instead of keeping the peak.
            record = {**beyond_peak(points[:, axis], keep=keep), "single_peak": True,
                      **({"valley_support": record["valley_support"]} if "valley_support" in record else {})}
        if "threshold_ci" in record:
            low, high = record["threshold_ci"]
            record["ci_share"] = round(float(np.mean((points[:, axis] >= low) & (points[:, axis] <= high))), 6)
        records[key] = record
        bounds[axis] = [record["threshold"], None] if keep == "above" else [None, record["threshold"]]
    inside = np.ones(len(points), dtype=bool)
    for axis, (lo, hi) in enumerate(bounds):
        if lo is not None:
            inside &= points[:, axis] >= lo
        if hi is not None:
            inside &= points[:, axis] <= hi
    confidence = min(0.5 if r.get("single_peak") else valley_confidence(r)["confidence"] for r in records.values())
    return {"shape": "rectangle", "bounds": bounds, "fraction": float(inside.mean()), "thresholds": records,
            "fallback": why, "confidence": confidence, "flag": "fallback",
            "reason": f"mixture not trusted ({why}): density-valley thresholds used"}


def valley_confidence(record: dict[str, Any]) -> dict[str, Any]:
    """Confidence of a density-valley cut: how far the cut's sampling error can move the frequency.

    The cut's bootstrap 95% interval (``threshold_ci``, :func:`density_valley`)
    holds ``ci_share`` of the gated parent's events: the frequency moves by
    up to that share if the cut sits anywhere in the interval. The confidence
    is the probability that the frequency stays within 2 percentage points
    (:func:`~msclab.flow.protocols.confidence.sampling_confidence`), as for a control
    threshold (:func:`~msclab.flow.qc.control_confidence`). So a shallow
    valley whose cut stays where few of the parent's events lie is trusted,
    and a cut that moves between two bumps of one population with another
    draw of the events is not, however deep its valley.

    A single peak (the cut placed ``width`` SDs beyond it; also a valley
    that under 95% of bootstrap resamples reproduce, :func:`density_valley`) is judged by
    where it lies against an unstained event (data value 0, ``zero`` on the
    gating scale; :func:`single_peak_confidence`). Without ``zero`` it gets
    0.5: the population kept is assumed, not seen. A record without an
    interval (written before it was kept) gets the valley's depth below the
    lower of its two peaks.
    """
    from .confidence import FREQUENCY_TOLERANCE_PP, sampling_confidence

    if record.get("single_peak"):
        unseen = (f"a valley found in only {100 * float(record['valley_support']):.0f}% of bootstrap resamples "
                  f"taken as noise; " if "valley_support" in record else "")
        if record.get("zero") is None:
            return {"confidence": 0.5, "reason": f"{unseen}one density peak: cut placed beyond it, no valley seen"}
        found = single_peak_confidence(record["peaks"][0], float(record["spread"]), float(record["zero"]),
                                       str(record.get("keep", "above")), float(record.get("width", 4.0)))
        return {**found, "reason": unseen + found["reason"]}
    depth = 1.0 - float(record.get("valley_depth_ratio", record.get("valley_density", 1.0)))
    if "ci_share" in record:
        share = float(record["ci_share"])
        confidence = sampling_confidence(share)
        return {"confidence": round(confidence, 4),
                "reason": f"valley depth {depth:.2f}; the cut's 95% bootstrap interval holds {100 * share:.1f}% "
                          f"of the parent (P(frequency within {FREQUENCY_TOLERANCE_PP:g} pp) = {confidence:.2f})"}
    return {"confidence": round(max(0.0, depth), 4),
            "reason": f"valley depth {depth:.2f} (1 - valley density / lower peak density)"}


def single_peak_confidence(mode: float, spread: float, zero: float, keep: str, width: float) -> dict[str, Any]:
    """Confidence of a cut placed beyond a lone density peak, from where the peak lies against unstained events.

    With one peak the gate assumes what the peak is. Unstained (negative)
    events sit at ``zero``, the gating-scale position of a data value of 0,
    with a spread taken as the peak's own ``spread`` (SD).

    - The peak is the population kept above the cut (``keep="above"``, e.g.
      CD45+ of lymphocytes, which are all CD45+): right when unstained
      events would fall below the cut. Confidence
      ``Phi((mode - zero) / spread - width)``: the share of an unstained
      population the cut excludes; 0.5 when the cut lies at ``zero``.
    - The peak is the negative population (``keep="below"`` with one peak,
      and ``beyond_peak`` cuts, e.g. CD25+ beyond the CD25- peak of CD4 T
      cells): right when the peak is not resolved from unstained events.
      Its resolution is the stain index ``SI = |mode - zero| / (2 spread)``
      (Maecker et al., Cytometry A 2004;62:169); confidence
      ``Phi(width - SI)``: a dim negative peak (SI about 1) is trusted, a
      peak resolved like a positive population (SI >= ``width``) is not.

    The rule follows the negative-population reasoning of positivity gates
    (Maecker & Trotter, Cytometry A 2006;69:1037, "flow cytometry controls,
    instrument setup, and the determination of positivity"): a cut is
    trusted when it separates the events from where unstained events lie.
    """
    s = max(spread, 1e-6)
    distance = (mode - zero) / s
    if keep == "above":
        z = distance - width
        reason = f"one peak, {distance:.1f} SD above unstained events; cut {z:.1f} SD above them"
    else:
        index = abs(distance) / 2.0
        z = width - index
        reason = f"peak taken as negative: stain index {index:.1f} against unstained events"
    return {"confidence": round(float(stats.norm.cdf(z)), 4), "reason": reason}


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
        ``intercept, slope, spread, low, high`` (residual bounds), the
        area range ``x_min, x_max`` the band spans, and ``core_fraction``:
        the share of events on the ridge's core (the last fit's events).
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
            "x_max": float(hi + pad), "core_fraction": float(keep.mean())}


def _mode(values: np.ndarray, bins: int = 256) -> float:
    lo, hi = np.percentile(values, [0.5, 99.5])
    if hi <= lo:
        return float(np.median(values))
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    smooth = gaussian_filter1d(counts.astype(float), 2.0)
    i = int(np.argmax(smooth))
    return float((edges[i] + edges[i + 1]) / 2)


def _peaks(counts: np.ndarray, smooth: float, distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A histogram's smoothed density, its peaks (bins) and their prominences."""
    density = gaussian_filter1d(counts.astype(float), smooth)
    return (density, *_density_peaks(density, distance))


def _density_peaks(density: np.ndarray, distance: int) -> tuple[np.ndarray, np.ndarray]:
    """The peaks (bins) of a smoothed density and their prominences (the edges count as zero density)."""
    padded = np.concatenate([[0.0], density, [0.0]])
    peaks, props = find_peaks(padded, prominence=0.01 * density.max(), distance=distance)
    return peaks - 1, props["prominences"]


def _two_peaks(counts: np.ndarray, smooth: float, distance: int) -> tuple[np.ndarray, int] | None:
    """The two most prominent peaks of a smoothed histogram and the lowest bin between them (None: one peak)."""
    return _top_two(*_peaks(counts, smooth, distance))


def _top_two(density: np.ndarray, peaks: np.ndarray, prominences: np.ndarray) -> tuple[np.ndarray, int] | None:
    """The two most prominent of ``peaks`` and the lowest bin of ``density`` between them (None: one peak)."""
    if len(peaks) < 2:
        return None
    top = np.sort(peaks[np.argsort(prominences)[-2:]])
    return top, int(top[0] + np.argmin(density[top[0]:top[1] + 1]))


def _one_peak_cut(centres: np.ndarray, counts: np.ndarray, density: np.ndarray, keep: str, width: float) -> float:
    """The one-peak cut of :func:`density_valley` from a histogram and its smoothed density: ``width`` far-half
    RMS distances from the mode."""
    mode = float(centres[int(np.argmax(density))])
    far = centres > mode if keep == "above" else centres < mode
    weight = counts[far].sum()
    spread = float(np.sqrt(np.sum(counts[far] * (centres[far] - mode) ** 2) / weight)) if weight else 0.0
    return mode - width * spread if keep == "above" else mode + width * spread


def _valley_resamples(counts: np.ndarray, centres: np.ndarray, *, smooth: float, distance: int, keep: str,
                      width: float, found: tuple[np.ndarray, int], resamples: int = VALLEY_BOOTSTRAP) -> tuple[list[float], float]:
    """The cut found again in bootstrap resamples of the histogram, and the share that reproduce the valley.

    Each resample redraws the parent's events with replacement; for a cut
    read from a histogram on fixed bins that is a multinomial draw of the
    bin counts (Efron 1979), so no event is touched. The cut is found again
    in each: the valley between the two most prominent peaks, or the
    one-peak cut where a resample shows one peak (the cut could land there).
    A resample *reproduces* the valley ``found`` when it shows a peak on
    each side of the valley and the lowest bin between the two nearest of
    them lies between the two peaks of ``found``: the same two populations
    separated at the same place. Whether those two peaks are also the
    resample's two most prominent does not matter: a third population
    whose bump outranks one of them in some draws (a dim shoulder of the
    bright population, say) leaves the valley where it was.

    The resamples are drawn, smoothed and searched for peaks as one array
    (:func:`~msclab.flow.protocols._peaks.find_peaks_rows`); each gets the
    numbers it would get alone (:func:`_density_peaks`, :func:`_top_two`).
    """
    rng = np.random.default_rng(_SEED)
    n = int(counts.sum())
    draws = rng.multinomial(n, counts / max(n, 1), size=resamples)
    densities = gaussian_filter1d(draws.astype(float), smooth, axis=1)
    rows, peaks, prominences = find_peaks_rows(np.pad(densities, ((0, 0), (1, 1))), distance=distance,
                                               minimum=0.01 * densities.max(axis=1))
    position, held = by_row(rows, peaks - 1, resamples, -1)
    prominence, _ = by_row(rows, prominences, resamples, -np.inf)
    valleys = _top_two_rows(densities, position, held, prominence)
    cuts = [float(centres[v]) if v >= 0 else _one_peak_cut(centres, again, density, keep, width)
            for v, again, density in zip(valleys, draws, densities, strict=True)]
    (a, b), cut = found
    left = np.where(held & (position < cut), position, -1).max(axis=1)  # the nearest peak on each side
    right = np.where(held & (position > cut), position, len(centres)).min(axis=1)
    between = _lowest_between(densities, left, right)
    same = np.count_nonzero((left >= 0) & (right < len(centres)) & (a < between) & (between < b))
    return cuts, same / resamples


def _lowest_between(densities: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The lowest bin of each row of ``densities`` from ``low`` to ``high`` (the first on a tie)."""
    index = np.arange(densities.shape[1])
    window = (index >= low[:, None]) & (index <= high[:, None])
    return np.argmin(np.where(window, densities, np.inf), axis=1)


def _top_two_rows(densities: np.ndarray, position: np.ndarray, held: np.ndarray,
                  prominence: np.ndarray) -> np.ndarray:
    """:func:`_top_two`'s valley bin for every row of ``densities`` (-1 where a row has one peak).

    ``position``, ``held`` and ``prominence`` hold each row's peaks (one a
    column, padded). When the second and third most prominent peaks of a
    row are equally prominent, which of them is kept depends on how numpy's
    sort orders ties: such a row is handed to :func:`_top_two` itself.
    """
    count = held.sum(axis=1)
    ranked = np.argsort(prominence, axis=1, kind="stable")[:, -2:]
    top = np.sort(np.take_along_axis(position, ranked, axis=1), axis=1)
    valleys = np.where(count >= 2, _lowest_between(densities, top[:, 0], top[:, -1]), -1)
    if prominence.shape[1] >= 3:
        ordered = np.sort(prominence, axis=1)
        for i in np.flatnonzero((count >= 3) & (ordered[:, -3] == ordered[:, -2])):
            valleys[i] = _top_two(densities[i], position[i, held[i]], prominence[i, held[i]])[1]
    return valleys


def density_valley(values: np.ndarray, *, keep: str = "above", between: tuple[float, float] | None = None,
                   width: float = 4.0, separation: float = 0.1, bins: int = 256,
                   smooth: float = 3.0) -> dict[str, Any]:
    """Return the lowest smoothed density between the two most prominent peaks.

    When the density has a single peak, that peak is taken to be the
    population kept, and the cut is placed ``width`` SDs beyond it on the
    other side (``keep="above"``: below the peak); the SD comes from the
    peak's far half, which the excluded events do not reach. A valley cut
    also gets ``threshold_ci``, its bootstrap 95% interval, for its
    confidence (:func:`valley_confidence`).

    A valley counts only when it is a feature of the population, not of
    this draw of its events: at least :data:`VALLEY_SUPPORT` (95%) of the
    bootstrap resamples of the histogram must show it again (two peaks on
    either side of it, their valley between the original peaks;
    :func:`_valley_resamples`). That share is the bootstrap confidence level
    of the feature (Efron, Halloran & Holmes, PNAS 1996;93:13429), the
    resampling check of a density's modes (Chaudhuri & Marron, JASA
    1999;94:807; Minnotte, Ann Stat 1997;25:1646). A valley fewer resamples
    reproduce lies between noise bumps of one population: the density is
    taken as one peak (``single_peak``, with ``valley_support`` recorded).

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
    distance = max(1, int(separation / ((hi - lo) / bins)))
    found = _two_peaks(counts, smooth, distance)
    support = None
    if found is not None:
        cuts, support = _valley_resamples(counts, centres, smooth=smooth, distance=distance, keep=keep,
                                          width=width, found=found)
    if found is None or support < VALLEY_SUPPORT:
        mode = float(centres[int(np.argmax(density))])
        far = v[v > mode] - mode if keep == "above" else mode - v[v < mode]
        spread = float(np.sqrt(np.mean(far**2))) if len(far) else 0.0
        cut = mode - width * spread if keep == "above" else mode + width * spread
        record = {"threshold": cut, "peaks": [mode], "single_peak": True, "spread": spread, "width": width}
        if support is not None:
            record["valley_support"] = round(float(support), 4)
        return record
    top, i = found
    low, high = np.percentile(cuts, [2.5, 97.5])
    return {"threshold": float(centres[i]), "peaks": [float(centres[p]) for p in top],
            "valley_density": float(density[i] / density.max()),
            "valley_depth_ratio": float(density[i] / max(min(density[top[0]], density[top[1]]), 1e-12)),
            "valley_support": round(float(support), 4), "threshold_ci": [float(low), float(high)]}


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
    return {"threshold": cut, "peak": mode, "spread": spread, "width": width}


def percentile_threshold(values: np.ndarray, percentile: float) -> dict[str, Any]:
    """Return the ``percentile`` of a (control) population's values and its 95% confidence interval.

    The interval is distribution-free: the order statistics whose ranks are
    the 2.5% and 97.5% quantiles of Binomial(n, percentile / 100) (Conover,
    *Practical Nonparametric Statistics*, 3rd ed. 1999, §3.2; Hahn & Meeker,
    *Statistical Intervals*, 1991, ch. 5). It says how far the cut could sit
    with another draw of the same number of control events.
    """
    v = values[np.isfinite(values)]
    if len(v) < 20:
        raise MsclabError(f"only {len(v)} control events to set a threshold")
    n, q = len(v), percentile / 100.0
    ordered = np.sort(v)
    low = int(np.clip(stats.binom.ppf(0.025, n, q), 1, n))  # 1-based ranks of the bounds
    high = int(np.clip(stats.binom.ppf(0.975, n, q) + 1, 1, n))
    return {"threshold": float(np.percentile(v, percentile)), "n_control_events": int(n),
            "threshold_ci": [float(ordered[low - 1]), float(ordered[high - 1])]}


#: Quantiles of the negative population (below its median, away from the positive events) that
#: :func:`negative_match` lines up between a sample and its control.
_NEGATIVE_QUANTILES = np.linspace(0.05, 0.45, 9)


def negative_match(control: np.ndarray, sample: np.ndarray, cut: float, below: bool = True) -> dict[str, float] | None:
    """Where a control's cut would lie on a sample whose negative events sit elsewhere than the control's.

    A cut read from a control (an FMO, unstimulated or no-target tube) holds for a
    sample only if the sample's negative events lie where the control's do
    (Maecker & Trotter, Cytometry A 2006;69:1037; Roederer, Cytometry 2001;45:194:
    a gain, stain or autofluorescence change between the tubes moves the negative
    population and, with it, where positivity begins). The negative population's
    half away from the positive events is free of them, so its quantiles
    (:data:`_NEGATIVE_QUANTILES`, taken within the events on the negative side of
    the cut) are matched between the two tubes by a line, ``sample = offset + gain x
    control`` (a detector gain change is a pure ``gain``, a compensation or
    background change an ``offset``), on linear data values; the cut moved with
    them is ``offset + gain x cut``. The share of the sample's events between the two
    cuts (re-read once at the moved cut) is how far the control's cut moves the
    sample's frequency: ``shift_share``, signed (positive: more of the sample's
    events lie beyond the control's cut than beyond the moved one).

    Parameters
    ----------
    control, sample
        Linear data values of the parent population in the control and the sample.
    cut
        The control's cut (linear data value).
    below
        The negative events lie below the cut (a high percentile of the control),
        whichever side the gate keeps.

    Returns
    -------
    dict or None
        ``matched_cut``, ``gain``, ``offset`` and ``shift_share``; None when the
        control's negative events have no spread to match.
    """
    sign = 1.0 if below else -1.0
    c = sign * control[np.isfinite(control)]
    s = sign * sample[np.isfinite(sample)]
    edge = sign * cut
    if len(c) < 20 or len(s) < 20:
        return None
    reference = np.quantile(c, _NEGATIVE_QUANTILES * float(np.mean(c < edge)))
    if not np.ptp(reference) > 0:
        return None
    moved = edge
    for _ in range(2):  # the sample's negative share read at the control's cut, then again at the moved cut
        negative = float(np.mean(s < moved))
        if negative == 0.0:
            return None
        gain, offset = np.polyfit(reference, np.quantile(s, _NEGATIVE_QUANTILES * negative), 1)
        moved = float(offset + gain * edge)
    low, high = sorted((edge, moved))
    share = float(np.mean((s >= low) & (s < high))) * (1.0 if moved > edge else -1.0)
    return {"matched_cut": float(sign * moved), "gain": float(gain), "offset": float(sign * offset),
            "shift_share": round(share, 6)}
