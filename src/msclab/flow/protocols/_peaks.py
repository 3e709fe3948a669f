"""The peaks of many 1-D signals at once: :func:`scipy.signal.find_peaks` with ``distance`` and ``prominence``.

:func:`find_peaks_rows` returns, for every row of a 2-D array, the peaks and
prominences that ``scipy.signal.find_peaks(row, distance=distance,
prominence=minimum)`` returns, as numpy operations over all rows instead of
one call per row. It follows the algorithm scipy documents (SciPy 1.17,
``scipy.signal.find_peaks`` and ``scipy.signal.peak_prominences``; Virtanen
et al., Nat Methods 2020;17:261), in scipy's order:

1. **Local maxima.** A peak is a run of equal samples higher than the
   samples on either side; its position is the run's middle sample (rounded
   down). The first and last samples are never peaks.
2. **Distance.** Peaks are visited from the highest down; each one still
   kept removes every peak fewer than ``distance`` samples from it.
3. **Prominence.** A peak's prominence is its height above the higher of
   the two lowest points between it and the nearest strictly higher sample
   on either side (or the signal's end); peaks below ``minimum`` are
   dropped.

Which of two equally high peaks within ``distance`` of each other scipy
visits first depends on how numpy's sort orders ties, so a row with such a
pair is handed to scipy itself; with that exception the result does not
depend on the order of ties. ``tests/flow/protocols/test_peaks.py`` compares
the two on random and adversarial signals. The rows must be finite.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks


def local_maxima(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The local maxima of every row of ``x`` (step 1): their rows and positions, by row then position.

    A run of equal samples ``x[i:k]`` is a peak when ``x[i - 1] < x[i]`` and
    ``x[k] < x[i]`` for ``1 <= i`` and ``k <= n - 1``; its position is
    ``(i + k - 1) // 2``.
    """
    n = x.shape[1]
    # Rising edges not followed by a rise (a rise follows no peak), at starts + 1.
    rows, starts = np.nonzero((x[:, :-2] < x[:, 1:-1]) & (x[:, 2:] <= x[:, 1:-1]))
    starts = starts + 1
    ends_run = np.ones(x.shape, dtype=bool)  # the last sample of each run of equal samples (or of its row)
    ends_run[:, :-1] = x[:, 1:] != x[:, :-1]
    last = np.flatnonzero(ends_run)
    ends = last[np.searchsorted(last, rows * n + starts)] - rows * n + 1  # the first sample after the run
    peak = ends < n
    peak[peak] = x[rows[peak], ends[peak]] < x[rows[peak], starts[peak]]
    return rows[peak], (starts[peak] + ends[peak] - 1) // 2


def by_row(rows: np.ndarray, values: np.ndarray, n_rows: int, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (sorted by row) laid out one row each, padded with ``fill``; and where they are."""
    counts = np.bincount(rows, minlength=n_rows)
    column = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    width = int(counts.max()) if n_rows else 0
    table = np.full((n_rows, width), fill, dtype=np.result_type(values, type(fill)))
    table[rows, column] = values
    held = np.zeros((n_rows, width), dtype=bool)
    held[rows, column] = True
    return table, held


def _select_by_distance(x: np.ndarray, rows: np.ndarray, peaks: np.ndarray,
                        distance: int) -> tuple[np.ndarray, np.ndarray]:
    """Which peaks the distance rule keeps (step 2), and which rows hold two equal peaks within ``distance``."""
    position, held = by_row(rows, peaks, x.shape[0], -1)
    height = np.where(held, x[np.arange(x.shape[0])[:, None], np.maximum(position, 0)], -np.inf)
    near = np.abs(position[:, :, None] - position[:, None, :]) < distance
    near &= held[:, :, None] & held[:, None, :] & ~np.eye(position.shape[1], dtype=bool)
    tied = np.any(near & (height[:, :, None] == height[:, None, :]), axis=(1, 2))
    order = np.argsort(-height, axis=1, kind="stable")  # highest first; held peaks before the padding
    keep = held.copy()
    every = np.arange(x.shape[0])
    for rank in range(position.shape[1]):
        j = order[:, rank]
        keep &= ~(near[every, j] & keep[every, j][:, None])
    return keep[held], tied


def prominences(x: np.ndarray, rows: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """The prominence of each peak ``x[rows, peaks]`` (step 3, over the whole row)."""
    m = x.shape[1]
    height = x[rows, peaks]
    higher = x[rows] > height[:, None]
    index = np.arange(m)
    before, after = higher & (index < peaks[:, None]), higher & (index > peaks[:, None])
    # The nearest strictly higher sample on each side (-1 and m: none).
    left = np.where(before.any(axis=1), m - 1 - np.argmax(before[:, ::-1], axis=1), -1)
    right = np.where(after.any(axis=1), np.argmax(after, axis=1), m)
    # The lowest sample of x[left + 1:peak + 1] and of x[peak:right], over the flattened rows.
    start = rows * m
    bounds = np.column_stack([start + left + 1, start + peaks + 1, start + peaks, start + right]).ravel()
    lows = np.minimum.reduceat(np.append(x.ravel(), np.inf), bounds)
    return height - np.maximum(lows[0::4], lows[2::4])


def find_peaks_rows(x: np.ndarray, *, distance: int, minimum: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The peaks of every row of ``x`` as ``scipy.signal.find_peaks(x[i], distance=distance, prominence=minimum[i])``.

    Parameters
    ----------
    x
        Finite signals, one a row.
    distance
        Smallest distance (samples, at least 1) between kept peaks.
    minimum
        The smallest prominence kept, one per row.

    Returns
    -------
    rows, peaks, prominences
        One entry per peak, by row and then position: its row, its position
        (sample) and its prominence.
    """
    if distance < 1:
        raise ValueError("distance must be at least 1")
    x = np.ascontiguousarray(x, dtype=float)
    rows, peaks = local_maxima(x)
    kept, tied = _select_by_distance(x, rows, peaks, distance)
    rows, peaks = rows[kept], peaks[kept]
    prominence = prominences(x, rows, peaks)
    kept = (prominence >= minimum[rows]) & ~tied[rows]
    parts = [(rows[kept], peaks[kept], prominence[kept])]
    for i in np.flatnonzero(tied):
        found, props = find_peaks(x[i], distance=distance, prominence=minimum[i])
        parts.append((np.full(len(found), i), found, props["prominences"]))
    rows, peaks, prominence = (np.concatenate(part) for part in zip(*parts))
    order = np.lexsort((peaks, rows))
    return rows[order], peaks[order], prominence[order]
