"""Benjamini-Hochberg q-values against a hand computation."""

from __future__ import annotations

import numpy as np
from scipy import stats

from msclab.stats import bh_qvalues


def test_bh_matches_hand_computation() -> None:
    # m = 5 non-missing p-values. Sorted: 0.005, 0.01, 0.03, 0.04, 0.20
    # p * m / rank: 0.025, 0.025, 0.05, 0.05, 0.20
    # running minimum from the largest rank down: 0.025, 0.025, 0.05, 0.05, 0.20
    p = [0.01, 0.04, 0.03, 0.005, 0.20, np.nan]
    expected = [0.025, 0.05, 0.05, 0.025, 0.20, np.nan]
    np.testing.assert_allclose(bh_qvalues(p), expected, equal_nan=True)


def test_bh_monotone_step_and_cap() -> None:
    # Sorted 0.02, 0.03, 0.9, 0.95: raw 0.08, 0.06, 1.2, 0.95 -> 0.06, 0.06, 0.95, 0.95 (capped at 1)
    np.testing.assert_allclose(bh_qvalues([0.9, 0.02, 0.95, 0.03]), [0.95, 0.06, 0.95, 0.06])


def test_bh_agrees_with_scipy() -> None:
    p = np.random.default_rng(3).uniform(size=50) ** 2
    np.testing.assert_allclose(bh_qvalues(p), stats.false_discovery_control(p, method="bh"))


def test_bh_all_missing() -> None:
    assert np.isnan(bh_qvalues([np.nan, np.nan])).all()
