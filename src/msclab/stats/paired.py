"""Statistics of one set of paired, donor-level differences.

Each donor contributes one within-donor effect (treated vs matched control);
the questions are how large the mean effect is and whether it differs from 0.

- Paired t: the mean with a Student-t confidence interval and a two-sided
  one-sample t-test of the donor effects (equivalent to the paired t-test of
  treated vs control on the effect's scale).
- Bootstrap over donors: donors are resampled with replacement and the mean
  recomputed; the percentile interval (Efron & Tibshirani 1993, An Introduction
  to the Bootstrap, ch. 13) is reported next to the t interval. With few donors
  it is narrower than it should be; it is a check on the t interval's
  normality assumption, not a replacement.
- Wilcoxon signed-rank test (exact for small samples without ties), robust to
  a non-normal spread of donor effects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class PairedResult:
    """Summary of donor-level effects."""

    estimate: float
    ci_low: float
    ci_high: float
    boot_low: float
    boot_high: float
    p_value: float
    p_wilcoxon: float
    n_donors: int
    sd: float


def t_interval(effects: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Return ``(mean, low, high)``: the Student-t interval of the mean (NaN below 2 donors)."""
    x = np.asarray(effects, dtype=float)
    x = x[~np.isnan(x)]
    n = x.size
    if n == 0:
        return np.nan, np.nan, np.nan
    mean = float(x.mean())
    if n < 2:
        return mean, np.nan, np.nan
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half


def bootstrap_interval(
    effects: np.ndarray, *, n_boot: int = 2000, confidence: float = 0.95, rng: np.random.Generator
) -> tuple[float, float]:
    """Return the percentile bootstrap interval of the mean over donors."""
    x = np.asarray(effects, dtype=float)
    x = x[~np.isnan(x)]
    if x.size < 2:
        return np.nan, np.nan
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def t_test(effects: np.ndarray) -> float:
    """Return the two-sided p-value of the one-sample t-test of mean 0 (NaN if undefined)."""
    x = np.asarray(effects, dtype=float)
    x = x[~np.isnan(x)]
    if x.size < 2 or not x.std(ddof=1) > 0:
        return np.nan
    t = x.mean() / (x.std(ddof=1) / np.sqrt(x.size))
    return float(2 * stats.t.sf(abs(t), x.size - 1))


def _wilcoxon(x: np.ndarray) -> float:
    if x.size < 2 or np.all(x == 0):
        return np.nan
    return float(stats.wilcoxon(x, zero_method="wilcox", alternative="two-sided").pvalue)


def summarise(
    effects: np.ndarray, *, confidence: float = 0.95, n_boot: int = 2000, rng: np.random.Generator
) -> PairedResult:
    """Return every statistic of :class:`PairedResult` for one set of donor effects."""
    x = np.asarray(effects, dtype=float)
    x = x[~np.isnan(x)]
    mean, low, high = t_interval(x, confidence)
    boot_low, boot_high = bootstrap_interval(x, n_boot=n_boot, confidence=confidence, rng=rng)
    p = t_test(x)
    return PairedResult(
        estimate=mean,
        ci_low=low,
        ci_high=high,
        boot_low=boot_low,
        boot_high=boot_high,
        p_value=p,
        p_wilcoxon=_wilcoxon(x),
        n_donors=int(x.size),
        sd=float(x.std(ddof=1)) if x.size >= 2 else np.nan,
    )
