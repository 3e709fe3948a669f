"""The gate_qc.csv flags: control thresholds judged by their sampling error, and the flag vocabulary (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from msclab.flow.protocols.resolvers import percentile_threshold
from msclab.flow.qc import GATE_FLAGS, REVIEW_FLAGS, control_confidence, gate_confidence, sampling_confidence


def test_the_percentile_interval_covers_the_true_percentile_95_percent_of_the_time() -> None:
    """Distribution-free order-statistic interval: coverage of the true 99.5th percentile of N(0, 1)."""
    rng = np.random.default_rng(3)
    truth = stats.norm.ppf(0.995)
    hits = []
    for _ in range(400):
        low, high = percentile_threshold(rng.normal(size=1500), 99.5)["threshold_ci"]
        hits.append(low <= truth <= high)
    # at least 95% by construction (discrete ranks make it a little more); 400 draws: SE about 1 point
    assert 0.93 <= np.mean(hits) <= 0.995


def test_the_interval_narrows_with_more_control_events() -> None:
    rng = np.random.default_rng(4)
    widths = [np.diff(percentile_threshold(rng.normal(size=n), 99.5)["threshold_ci"])[0] for n in (500, 5000, 50000)]
    assert widths[0] > widths[1] > widths[2] > 0


def test_sampling_confidence_is_the_normal_probability_of_staying_within_2_pp() -> None:
    assert sampling_confidence(0.0) == 1.0
    z95 = stats.norm.ppf(0.975)
    # a band of 2 x 1.96 x 2 pp is a standard error of 2 pp: P(|error| < 2 pp) = P(|Z| < 1)
    assert sampling_confidence(2 * z95 * 0.02) == pytest.approx(stats.norm.cdf(1) - stats.norm.cdf(-1), abs=1e-9)
    assert sampling_confidence(0.02) > 0.99 > sampling_confidence(0.10)


def _control(share: float, n: int = 1500) -> dict:
    return {"method": "threshold", "resolved": {"method": "control", "control_type": "fmo", "n_control_events": n,
                                                "threshold": 0.4, "threshold_ci": [0.38, 0.42], "ci_share": share}}


def test_a_small_control_is_flagged_only_where_it_can_move_the_frequency() -> None:
    """The same 1,500-event control: fine for a sample with few events near the cut, flagged for a crowded one."""
    quiet = gate_confidence(_control(0.01))
    crowded = gate_confidence(_control(0.12))
    assert quiet[2] == "" and quiet[1] > 0.99
    assert crowded[2] == "low_confidence" and crowded[1] < 0.8
    assert "12.0% of the sample's parent" in crowded[3]
    assert control_confidence(_control(0.01)["resolved"])[0] == pytest.approx(sampling_confidence(0.01))


def test_a_control_fallback_is_informative_unless_its_own_gate_is_weak() -> None:
    deep = {"method": "threshold", "resolved": {"method": "valley", "valley_depth_ratio": 0.05, "threshold": 0.3,
                                                "note": "no fmo sample for CD25: fell back to valley"}}
    shallow = {"method": "threshold", "resolved": {**deep["resolved"], "valley_depth_ratio": 0.6}}
    assert gate_confidence(deep)[2] == "control_fallback"
    assert gate_confidence(shallow)[2] == "low_confidence"
    assert "fell back to valley" in gate_confidence(shallow)[3]


def test_the_flag_vocabulary() -> None:
    assert list(GATE_FLAGS) == ["fallback", "low_confidence", "control_fallback", "skipped"]
    assert set(REVIEW_FLAGS) == {"fallback", "low_confidence"} and set(REVIEW_FLAGS) <= set(GATE_FLAGS)
