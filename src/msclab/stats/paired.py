"""Statistics of paired, donor-level differences.

Each donor contributes one within-donor effect (treated vs matched control);
the questions are how large the mean effect is and whether it differs from 0.
The functions take a matrix with one row per readout and one column per donor
(NaN where a donor lacks the readout) and work row by row.

- Paired t: the mean with a Student-t confidence interval and a two-sided
  one-sample t-test of the donor effects (the paired t-test of treated vs
  control on the effect's scale).
- Bootstrap over donors: donors are resampled with replacement and the mean
  recomputed; the percentile interval (Efron B, Tibshirani RJ. An Introduction
  to the Bootstrap. Chapman & Hall 1993, ch. 13) is reported next to the t
  interval. With few donors it is narrower than it should be; it is a check on
  the t interval's normality assumption, not a replacement.
- Wilcoxon signed-rank test (exact for small samples without ties; Wilcoxon F.
  Individual comparisons by ranking methods. Biometrics Bull 1945;1:80-83),
  robust to a non-normal spread of donor effects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class TStats:
    """Row-wise paired-t statistics; every field is an array with one value per row."""

    mean: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray
    n: np.ndarray
    sd: np.ndarray


def t_stats(matrix: np.ndarray, confidence: float = 0.95) -> TStats:
    """Return mean, Student-t CI, two-sided t-test p-value, n and SD of every row.

    Rows with fewer than 2 values get NaN CI and p-value; rows with zero spread
    get a zero-width CI and NaN p-value.
    """
    x = np.atleast_2d(np.asarray(matrix, dtype=float))
    n = (~np.isnan(x)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(x, axis=1) / n
        sd = np.sqrt(np.nansum((x - mean[:, None]) ** 2, axis=1) / (n - 1))
        se = sd / np.sqrt(n)
        df = np.where(n >= 2, n - 1, 1)
        half = np.where(n >= 2, stats.t.ppf(0.5 + confidence / 2, df) * se, np.nan)
        p = np.where((n >= 2) & (se > 0), 2 * stats.t.sf(np.abs(mean / se), df), np.nan)
    mean = np.where(n > 0, mean, np.nan)
    sd = np.where(n >= 2, sd, np.nan)
    return TStats(mean, mean - half, mean + half, p, n, sd)


def bootstrap_interval(
    effects: np.ndarray, *, n_boot: int = 2000, confidence: float = 0.95, rng: np.random.Generator
) -> tuple[float, float]:
    """Return the percentile bootstrap interval of the mean over donors (NaN below 2 donors)."""
    x = np.asarray(effects, dtype=float)
    x = x[~np.isnan(x)]
    if x.size < 2:
        return np.nan, np.nan
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def wilcoxon_p(effects: np.ndarray) -> float:
    """Return the two-sided Wilcoxon signed-rank p-value of the donor effects (NaN if undefined)."""
    x = np.asarray(effects, dtype=float)
    x = x[~np.isnan(x)]
    if x.size < 2 or np.all(x == 0):
        return np.nan
    return float(stats.wilcoxon(x, zero_method="wilcox", alternative="two-sided").pvalue)
