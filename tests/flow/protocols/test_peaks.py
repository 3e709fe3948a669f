"""The row-wise peak search equals scipy's ``find_peaks``, and the valley bootstrap and polygon trace built on
faster searches give the numbers of the one-at-a-time versions they replaced."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks
from threadpoolctl import threadpool_limits

from msclab.flow.protocols import resolvers
from msclab.flow.protocols._mixture import GaussianMixture
from msclab.flow.protocols._peaks import find_peaks_rows

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _scipy_rows(x: np.ndarray, distance: int, minimum: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, peaks, prominences = [], [], []
    for i, row in enumerate(x):
        found, props = find_peaks(row, distance=distance, prominence=minimum[i])
        rows.append(np.full(len(found), i))
        peaks.append(found)
        prominences.append(props["prominences"])
    return np.concatenate(rows), np.concatenate(peaks), np.concatenate(prominences)


def _same_as_scipy(x: np.ndarray, distance: int, minimum: np.ndarray) -> None:
    ours, theirs = find_peaks_rows(x, distance=distance, minimum=minimum), _scipy_rows(x, distance, minimum)
    for name, a, b in zip(("rows", "peaks", "prominences"), ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)


@st.composite
def signals(draw: st.DrawFn) -> tuple[np.ndarray, int, np.ndarray]:
    """Rows of few distinct levels (plateaus, equal peaks), of any floats, or smoothed counts; a distance; minima."""
    shape = (draw(st.integers(1, 6)), draw(st.integers(1, 48)))
    kind = draw(st.sampled_from(("levels", "floats", "smoothed")))
    if kind == "levels":
        x = draw(arrays(float, shape, elements=st.sampled_from([0.0, 1.0, 2.0, 3.0])))
    elif kind == "floats":
        x = draw(arrays(float, shape, elements=st.floats(-1e6, 1e6, allow_nan=False)))
    else:
        counts = draw(arrays(np.int64, shape, elements=st.integers(0, 30)))
        x = gaussian_filter1d(counts.astype(float), draw(st.sampled_from([0.5, 1.0, 3.0])), axis=1)
    share = draw(st.sampled_from([0.0, 0.01, 0.2, 0.5]))
    return x, draw(st.integers(1, 12)), share * np.abs(x).max(axis=1)


@PROPERTY
@given(signals())
def test_row_peaks_equal_scipy_find_peaks(case: tuple[np.ndarray, int, np.ndarray]) -> None:
    _same_as_scipy(*case)


@pytest.mark.parametrize("row", [
    [0, 1, 1, 0],  # a plateau of two: its left sample
    [0, 2, 2, 2, 2, 0, 1, 1, 1, 0],  # even and odd plateaus
    [0, 1, 1, 1],  # a plateau reaching the end is no peak
    [1, 1, 0, 1, 1],  # nor one starting at the beginning
    [0, 1, 2, 1, 2, 1, 0],  # equal peaks within the distance: which one stays depends on numpy's sort
    [0, 3, 0, 3, 0, 3, 0, 3, 0],  # a chain of equal peaks
    [0, 2, 0, 3, 0, 2, 0, 1, 3, 0],  # a higher peak between two lower ones
    [5, 5, 5, 5],
    [0, 1, 2, 3, 4],
])
@pytest.mark.parametrize("distance", [1, 2, 3, 5])
def test_adversarial_rows_equal_scipy_find_peaks(row: list[int], distance: int) -> None:
    x = np.array([row, row[::-1], [0.0] * len(row)], dtype=float)
    for share in (0.0, 0.3):
        _same_as_scipy(x, distance, share * x.max(axis=1))


def test_row_peaks_need_a_distance_of_one_sample() -> None:
    with pytest.raises(ValueError, match="distance"):
        find_peaks_rows(np.zeros((1, 5)), distance=0, minimum=np.zeros(1))


def _valley_resamples_one_by_one(counts: np.ndarray, centres: np.ndarray, *, smooth: float, distance: int,
                                 keep: str, width: float, found: tuple[np.ndarray, int]) -> tuple[list[float], float]:
    """The bootstrap as it was: scipy's peak search and :func:`resolvers._top_two` on each resample."""
    rng = np.random.default_rng(resolvers._SEED)
    n = int(counts.sum())
    draws = rng.multinomial(n, counts / max(n, 1), size=resolvers.VALLEY_BOOTSTRAP)
    densities = gaussian_filter1d(draws.astype(float), smooth, axis=1)
    (a, b), cut = found
    cuts, same = [], 0
    for again, density in zip(draws, densities, strict=True):
        peaks, prominences = resolvers._density_peaks(density, distance)
        other = resolvers._top_two(density, peaks, prominences)
        cuts.append(float(centres[other[1]]) if other else
                    resolvers._one_peak_cut(centres, again, density, keep, width))
        left, right = peaks[peaks < cut], peaks[peaks > cut]
        if len(left) and len(right):
            a2, b2 = int(left.max()), int(right.min())
            same += int(a < a2 + int(np.argmin(density[a2:b2 + 1])) < b)
    return cuts, same / resolvers.VALLEY_BOOTSTRAP


@pytest.mark.parametrize("seed", range(12))
def test_valley_bootstrap_equals_one_resample_at_a_time(seed: int) -> None:
    """Clear valleys, shallow ones (resamples with one peak) and three populations, few and many events."""
    rng = np.random.default_rng(seed)
    n = int(rng.choice([60, 400, 3000]))
    centres = np.sort(rng.uniform(0.1, 0.9, 3))
    values = np.concatenate([rng.normal(c, rng.uniform(0.02, 0.1), int(n * w))
                             for c, w in zip(centres, rng.dirichlet([1, 1, 1]), strict=True)])
    counts, edges = np.histogram(values, bins=256, range=(values.min(), values.max()))
    bin_centres = (edges[:-1] + edges[1:]) / 2
    distance = int(rng.integers(1, 40))
    found = resolvers._two_peaks(counts, 3.0, distance)
    if found is None:
        pytest.skip("one peak: no bootstrap")
    kwargs = {"smooth": 3.0, "distance": distance, "keep": str(rng.choice(["above", "below"])), "width": 4.0,
              "found": found}
    assert resolvers._valley_resamples(counts, bin_centres, **kwargs) == \
        _valley_resamples_one_by_one(counts, bin_centres, **kwargs)


def test_the_two_peaks_of_rows_with_tied_prominences_are_numpy_s() -> None:
    """Rows whose second and third most prominent peaks tie go through :func:`resolvers._top_two` itself."""
    density = np.array([[0, 2, 0, 1, 0, 1, 0, 0], [0, 1, 0, 1, 0, 1, 0, 0], [0, 3, 1, 2, 0, 1, 0, 0]], dtype=float)
    rows, peaks, prominences = find_peaks_rows(np.pad(density, ((0, 0), (1, 1))), distance=1, minimum=np.zeros(3))
    position, held = resolvers.by_row(rows, peaks - 1, 3, -1)
    prominence, _ = resolvers.by_row(rows, prominences, 3, -np.inf)
    expected = [resolvers._top_two(density[i], peaks[rows == i] - 1, prominences[rows == i])[1] for i in range(3)]
    np.testing.assert_array_equal(resolvers._top_two_rows(density, position, held, prominence), expected)


def _polygon_whole_grid(gmm: GaussianMixture, chosen: list[int], origin: np.ndarray, reach: float) -> np.ndarray:
    """The polygon trace as it was: every point of every ray judged."""
    angles = np.linspace(0.0, 2 * np.pi, resolvers._RAYS, endpoint=False)
    unit = np.column_stack([np.cos(angles), np.sin(angles)])
    radii = np.linspace(0.0, reach, 600)[1:]
    grid = origin + radii[None, :, None] * unit[:, None, :]
    inside = resolvers._inside(gmm, chosen, grid.reshape(-1, 2)).reshape(len(angles), len(radii))
    stop = np.where(inside.all(axis=1), len(radii), np.argmin(inside, axis=1))
    return origin + radii[np.maximum(stop - 1, 0)][:, None] * unit


@pytest.mark.parametrize("seed", range(8))
def test_polygon_trace_equals_the_whole_grid(seed: int) -> None:
    """From every component's mean (including those another component dominates) and from outside the region;
    to a reach beyond the region and to one within it (rays that never leave it)."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 5))
    z = np.vstack([rng.multivariate_normal(rng.normal(0, 2, 2), np.diag(rng.uniform(0.05, 1, 2)), 500)
                   for _ in range(k)])
    z = (z - z.mean(axis=0)) / z.std(axis=0)
    gmm = GaussianMixture(n_components=k, covariance_type="full", random_state=0, reg_covar=1e-5).fit(z)
    reach = float(np.abs(z).max()) * 1.5 + 1.0
    with threadpool_limits(1):
        for chosen in ([0], list(range(k - 1)), [k - 1]):
            for origin in (*gmm.means_, np.array([reach, reach]) / 3):
                for far in (reach, 0.05):
                    np.testing.assert_array_equal(resolvers._polygon(gmm, chosen, origin, far),
                                                  _polygon_whole_grid(gmm, chosen, origin, far))
