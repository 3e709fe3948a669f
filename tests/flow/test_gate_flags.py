"""The gate_qc.csv flags: gates judged by how far they can move the frequency; the flag vocabulary (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from msclab.flow.protocols.resolvers import cluster_gate, density_valley, percentile_threshold, valley_confidence
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
    # a known offset shifts the error: 3 pp off with a 1 pp standard error is P(-5 < Z < -1)
    band = 2 * z95 * 0.01
    assert sampling_confidence(band, -0.03) == pytest.approx(stats.norm.cdf(-1) - stats.norm.cdf(-5), abs=1e-9)
    assert sampling_confidence(0.0, 0.01) == 1.0 and sampling_confidence(0.0, 0.05) == 0.0


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


# --- Valley and mixture gates judged by what they can move, as a share of the parent (issue 16) ----------
def _valley(low: float, high: float, sd: float, positive: float, n: int = 5000, seed: int = 1) -> dict:
    """A density-valley cut on two normal populations, with the share of the parent inside its interval."""
    rng = np.random.default_rng(seed)
    k = int(positive * n)
    values = np.concatenate([rng.normal(low, sd, n - k), rng.normal(high, sd, k)])
    record = density_valley(values)
    lo, hi = record["threshold_ci"]
    return {**record, "ci_share": float(np.mean((values >= lo) & (values <= hi)))}


def test_a_valley_cut_is_judged_by_the_parent_events_its_interval_holds() -> None:
    """Not by the valley's depth: a shallow valley whose cut stays put is trusted, a wandering cut is not."""
    deep = _valley(0.2, 0.7, 0.05, 0.3)
    assert deep["threshold_ci"][0] <= deep["threshold"] <= deep["threshold_ci"][1]
    assert valley_confidence(deep)["confidence"] == 1.0
    steady = _valley(0.4, 0.6, 0.055, 0.5)  # depth about 0.6 (flagged by depth), the cut moves over < 5% of events
    assert steady["valley_depth_ratio"] > 0.3 and steady["ci_share"] < 0.05
    assert valley_confidence(steady)["confidence"] > 0.95
    wandering = {**deep, "ci_share": 0.4}  # an interval over 40% of the parent: the cut can land anywhere there
    found = gate_confidence({"method": "threshold", "resolved": {"method": "valley", **wandering}})
    assert found[2] == "low_confidence"
    assert found[1] == pytest.approx(sampling_confidence(wandering["ci_share"]), abs=1e-4)
    assert "bootstrap interval holds" in found[3]


def test_a_valley_the_resamples_do_not_reproduce_is_one_peak() -> None:
    """Two barely resolved populations (2.5 SD apart, 60:40): most resamples miss the valley; flagged as one peak."""
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(0.45, 0.06, 3000), rng.normal(0.6, 0.06, 2000)])
    record = density_valley(values)
    assert record["single_peak"] and record["valley_support"] < 0.95 and "threshold_ci" not in record
    found = gate_confidence({"method": "threshold", "resolved": {"method": "valley", **record}})
    assert found[2] == "low_confidence" and "bootstrap resamples" in found[3]
    assert density_valley(np.concatenate([rng.normal(0.2, 0.05, 3500), rng.normal(0.7, 0.05, 1500)]))[
        "valley_support"] == 1.0  # two resolved populations: every resample finds the valley again


def test_a_valley_is_reproduced_whatever_the_resamples_two_most_prominent_peaks() -> None:
    """HLA-DR on Lin- cells: a dim negative population, and a bright one with a dimmer shoulder (pDC below cDC).

    In some resamples the shoulder outranks the negative peak, so the two most
    prominent peaks are both bright; the empty valley below them is still there
    and must count (a 'one peak' cut there dropped the shoulder: pDC 3 points low).
    """
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0.13, 0.06, 300), rng.normal(0.60, 0.03, 300), rng.normal(0.72, 0.035, 800)])
    record = density_valley(values, keep="above")
    assert not record.get("single_peak") and record["valley_support"] >= 0.95
    assert 0.25 < record["threshold"] < 0.45
    assert np.mean(values >= record["threshold"]) == pytest.approx(1100 / 1400, abs=0.005)


def test_noise_bumps_of_one_population_are_not_a_valley() -> None:
    """One log-normal population (every event positive) on a log-like scale: the cut goes below it, keeping it."""
    rng = np.random.default_rng(3)
    values = np.log10(rng.lognormal(np.log(3000), 0.35, 800)) / 4.5
    record = density_valley(values, keep="above")
    assert record["single_peak"]
    assert np.mean(values >= record["threshold"]) > 0.99


def test_a_valley_record_without_an_interval_keeps_its_depth() -> None:
    old = {"method": "threshold", "resolved": {"method": "valley", "valley_depth_ratio": 0.3}}
    assert gate_confidence(old)[1] == pytest.approx(0.7) and gate_confidence(old)[2] == "low_confidence"


def _mixture(offset: float, sd: float, share: float, n: int = 8000) -> dict:
    rng = np.random.default_rng(1)
    k = int(share * n)
    points = np.vstack([rng.normal(0.0, 0.6, (n - k, 2)), rng.normal(offset, sd, (k, 2))])
    return cluster_gate(points[:, 0], points[:, 1], components=2, select={"x": "high", "y": "high"},
                        min_weight=0.01)


def test_a_small_population_with_a_soft_boundary_is_judged_by_its_share_of_the_parent() -> None:
    """A 5% population misassigns over a fifth of its own events, about 1% of the parent: trusted.

    Two overlapping populations of 60% and 40% misassign about 9% of the parent: flagged.
    """
    small = _mixture(1.4, 0.8, 0.06)
    per_event = small["misassigned_share"] / small["fraction"]
    assert per_event > 0.2 and small["misassigned_share"] < 0.02  # 1 - per_event was the old separation, < 0.8
    assert small["separation"] == pytest.approx(sampling_confidence(small["misassigned_share"]), abs=1e-4)
    assert small["confidence"] > 0.9
    assert abs(small["drawn_offset"]) < 0.005  # the polygon drawn keeps the events the mixture owns
    overlapping = _mixture(1.2, 0.8, 0.4)
    assert overlapping["misassigned_share"] > 0.07 and overlapping["separation"] < 0.8
    assert gate_confidence({"method": "cluster", "resolved": overlapping})[2] == "low_confidence"


def test_a_polygon_that_misses_the_mixture_population_is_not_trusted() -> None:
    """The frequency counts the polygon drawn: the events it keeps beyond (or short of) the mixture's are an offset."""
    from msclab.flow.protocols import resolvers

    rng = np.random.default_rng(2)
    points = np.vstack([rng.normal(0.0, 0.6, (7600, 2)), rng.normal(2.5, 0.4, (400, 2))])
    z = (points - points.mean(axis=0)) / points.std(axis=0)
    gmm = resolvers.GaussianMixture(n_components=2, covariance_type="full", random_state=0).fit(z)
    chosen = [int(np.argmax(gmm.means_.sum(axis=1)))]
    owned = resolvers._inside(gmm, chosen, z)
    args = (gmm, chosen, z, np.array([1.0, 1.0]), np.median(z, axis=0), 0.01, 1.0)
    right = resolvers.cluster_confidence(*args, drawn=owned)
    missed = resolvers.cluster_confidence(*args, drawn=np.zeros(len(z), dtype=bool))  # a collapsed polygon
    assert right["drawn_offset"] == 0 and right["confidence"] > 0.95
    assert missed["drawn_offset"] == pytest.approx(-owned.mean(), abs=1e-6) and owned.mean() > 0.04
    assert missed["separation"] < 0.1 and "its polygon keeps 0.0%" in missed["reason"]


# --- A control that does not fit the sample: its negative events lie elsewhere -----------------------
def _negatives_and_positives(rng: np.random.Generator, n: int, positive: float) -> np.ndarray:
    """Compensated negatives (noise and autofluorescence about 0) and a positive population."""
    negatives = rng.normal(40.0, 35.0, size=n)
    return np.concatenate([negatives, rng.lognormal(np.log(3000.0), 0.45, size=int(positive * n))])


def test_a_sample_like_its_control_moves_no_cut() -> None:
    from msclab.flow.protocols.resolvers import negative_match
    rng = np.random.default_rng(7)
    control = _negatives_and_positives(rng, 3000, 0.0)
    cut = float(np.percentile(control, 99.5))
    shares = [negative_match(control, _negatives_and_positives(rng, 3000, 0.2), cut)["shift_share"]
              for _ in range(20)]
    assert max(abs(s) for s in shares) < 0.006  # sampling noise only: far below the 2 pp tolerance


def test_a_gain_change_is_found_and_moves_the_cut_with_the_negative_events() -> None:
    """Analytic: every signal doubled puts the control's 99.5th percentile at twice its value."""
    from msclab.flow.protocols.resolvers import negative_match
    rng = np.random.default_rng(8)
    control = _negatives_and_positives(rng, 20000, 0.0)
    cut = float(np.percentile(control, 99.5))
    sample = 2.0 * _negatives_and_positives(rng, 20000, 0.2)
    match = negative_match(control, sample, cut)
    assert match["gain"] == pytest.approx(2.0, rel=0.05) and abs(match["offset"]) < 10
    assert match["matched_cut"] == pytest.approx(2 * cut, rel=0.05)
    expected = np.mean((sample >= cut) & (sample < 2 * cut))  # the doubled negatives the control's cut keeps
    assert match["shift_share"] == pytest.approx(expected, abs=0.01) and match["shift_share"] > 0.1
    # a negative population moved down (keep below, a low percentile) is mirrored
    low = negative_match(-control, -sample, -cut, below=False)
    assert low["matched_cut"] == pytest.approx(-match["matched_cut"]) and low["shift_share"] == match["shift_share"]


def test_a_control_that_does_not_fit_the_sample_is_flagged_with_the_reason() -> None:
    moved = _control(0.01)
    moved["resolved"]["negative_match"] = {"matched_cut": 200.0, "gain": 2.0, "offset": -1.0, "shift_share": 0.09}
    method, confidence, flag, reason = gate_confidence(moved)
    assert flag == "low_confidence" and confidence < 0.01
    assert "2.00 x the control's" in reason and "9.0 pp" in reason
    fits = _control(0.01)
    fits["resolved"]["negative_match"] = {"matched_cut": 101.0, "gain": 1.01, "offset": 0.0, "shift_share": 0.002}
    assert gate_confidence(fits)[2] == "" and "negative events" not in gate_confidence(fits)[3]


def test_cells_brighter_than_the_undivided_control_flag_a_proliferation_gate() -> None:
    """A sample acquired at twice the gain: its undivided cells sit one halving above the control's."""
    from msclab.flow.proliferation import fit_generations, generation0
    rng = np.random.default_rng(9)
    control = rng.lognormal(np.log(40000.0), 0.18, size=3000)
    generations = rng.binomial(5, 0.35, size=6000) * (rng.uniform(size=6000) < 0.7)
    sample = rng.lognormal(np.log(40000.0), 0.18, size=6000) * 2.0 ** -generations.astype(float)
    gen0 = generation0(control)
    plain, doubled = fit_generations(sample, gen0), fit_generations(2 * sample, gen0)
    assert plain.brighter < 0.005 and doubled.brighter > 0.2
    record = {"method": "divided", "resolved": doubled.record()}
    method, confidence, flag, reason = gate_confidence(record)
    assert flag == "low_confidence" and "brighter than the control's undivided cells" in reason
    assert gate_confidence({"method": "divided", "resolved": plain.record()})[2] == ""
