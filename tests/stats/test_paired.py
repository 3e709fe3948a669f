"""Paired-t intervals, tests and the bootstrap: coverage and agreement with scipy."""

from __future__ import annotations

import numpy as np
from scipy import stats

from msclab.stats import estimate_effects
from msclab.stats.paired import bootstrap_interval, t_stats, wilcoxon_p


def test_t_stats_match_scipy() -> None:
    x = np.array([0.3, -0.1, 0.5, 0.8, 0.2, 0.4, -0.2, 0.6])
    res = t_stats(x)
    low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert res.mean[0] == x.mean()
    np.testing.assert_allclose([res.ci_low[0], res.ci_high[0]], [low, high])
    np.testing.assert_allclose(res.p_value[0], stats.ttest_1samp(x, 0).pvalue)
    assert wilcoxon_p(x) == stats.wilcoxon(x).pvalue


def test_t_stats_rows_with_missing_donors() -> None:
    m = np.array([[1.0, 2.0, np.nan], [np.nan, np.nan, 4.0], [1.0, 1.0, 1.0]])
    res = t_stats(m)
    assert list(res.n) == [2, 1, 3]
    assert np.isnan(res.ci_low[1]) and np.isnan(res.p_value[1])
    assert res.ci_low[2] == res.ci_high[2] == 1.0 and np.isnan(res.p_value[2])


def test_t_interval_coverage_is_95_percent() -> None:
    # 4000 simulated studies of 8 donors, true mean effect 0.5: the analytic coverage is 0.95.
    rng = np.random.default_rng(11)
    res = t_stats(rng.normal(0.5, 0.4, size=(4000, 8)))
    coverage = np.mean((res.ci_low <= 0.5) & (0.5 <= res.ci_high))
    assert 0.94 <= coverage <= 0.96


def test_pipeline_ci_coverage_on_known_log2_fold_changes(lognormal_study, contrast) -> None:
    # 1000 intervals from estimate_effects on lognormal studies with planted log2FC in [-1, 1].
    hits = []
    for seed in range(4):
        deltas = np.linspace(-1, 1, 250)
        effects = estimate_effects(lognormal_study(deltas, seed=seed), contrast, n_boot=50, sensitivity=False)
        truth = deltas[[int(r.split(":")[1][1:]) for r in effects["readout"]]]
        hits += list((effects["ci_low"] <= truth) & (truth <= effects["ci_high"]))
    assert len(hits) == 1000
    assert 0.925 <= np.mean(hits) <= 0.975


def test_bootstrap_is_seeded() -> None:
    x = np.random.default_rng(0).normal(size=8)
    a = bootstrap_interval(x, rng=np.random.default_rng(5))
    b = bootstrap_interval(x, rng=np.random.default_rng(5))
    c = bootstrap_interval(x, rng=np.random.default_rng(6))
    assert a == b and a != c
    assert a[0] < x.mean() < a[1]

