"""Data-driven gate resolvers and the proliferation model on synthetic values."""

from __future__ import annotations

import numpy as np
import pytest

from msclab.errors import MsclabError
from msclab.flow.proliferation import fit_generations, generation0
from msclab.flow.protocols.resolvers import (
    beyond_peak, cluster_ellipse, density_valley, percentile_threshold, singlet_band,
)

RNG = np.random.default_rng(3)


def test_valley_between_two_peaks():
    values = np.concatenate([RNG.normal(0.15, 0.04, 8000), RNG.normal(0.6, 0.05, 2000)])
    record = density_valley(values)
    assert 0.28 < record["threshold"] < 0.45
    assert len(record["peaks"]) == 2


def test_single_peak_cuts_beyond_the_kept_population():
    values = RNG.normal(0.6, 0.02, 5000)
    above = density_valley(values, keep="above", width=4)
    below = density_valley(values, keep="below", width=4)
    assert above["single_peak"] and 0.5 < above["threshold"] < 0.54
    assert 0.66 < below["threshold"] < 0.7


def test_beyond_peak_and_percentile():
    negatives = RNG.normal(0.2, 0.05, 9000)
    values = np.concatenate([negatives, RNG.normal(0.5, 0.1, 1000)])
    assert beyond_peak(values, keep="above", width=3)["threshold"] == pytest.approx(0.35, abs=0.02)
    assert percentile_threshold(negatives, 99.5)["threshold"] == pytest.approx(0.2 + 2.576 * 0.05, abs=0.01)
    with pytest.raises(MsclabError):
        percentile_threshold(negatives[:5], 99.5)


def test_cluster_selects_by_direction_and_merges_split_components():
    main = RNG.multivariate_normal([0.2, 0.6], np.diag([0.003, 0.002]), 8000)
    corner = RNG.multivariate_normal([0.7, 0.2], np.diag([0.001, 0.002]), 600)
    points = np.vstack([main, corner])
    fit = cluster_ellipse(points[:, 0], points[:, 1], components=4, select={"x": "high", "y": "low"},
                          coverage=0.99, min_weight=0.005)
    assert fit["mean"] == pytest.approx([0.7, 0.2], abs=0.03)
    assert fit["weight"] == pytest.approx(600 / 8600, abs=0.01)


def test_singlet_band_excludes_doublets():
    area = RNG.uniform(0.15, 0.35, 5000)
    singlets = 0.87 * area * (1 + 0.03 * RNG.standard_normal(5000))
    band = singlet_band(np.concatenate([area, area[:300] * 2]),
                        np.concatenate([singlets, singlets[:300] * 1.04]), width=4)
    assert band["slope"] == pytest.approx(0.87, abs=0.05)
    residual_doublet = 1.04 * 0.87 * 0.25 - (band["intercept"] + band["slope"] * 0.5)
    assert residual_doublet < band["low"]


def test_generations_recover_planted_division():
    control = 40000 * np.exp(0.18 * RNG.standard_normal(4000))
    gen0 = generation0(control)
    assert gen0.mean == pytest.approx(np.log2(40000), abs=0.1)
    generation = np.where(RNG.uniform(size=6000) < 0.7, 1 + RNG.binomial(5, 0.35, 6000), 0)
    sample = 40000 * np.exp(0.18 * RNG.standard_normal(6000)) / 2.0**generation
    fit = fit_generations(sample, gen0)
    stats = fit.statistics()
    assert stats["pct_divided"] == pytest.approx(100 * (generation > 0).mean(), abs=2)
    assert 0 < stats["division_index"] < stats["proliferation_index"]
    assert gen0.mean - 1 <= fit.boundary <= gen0.mean
