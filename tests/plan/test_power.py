"""Power of the plan's simulator against analytic results and its own monotonicity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from msclab.plan import PLAN_COLUMNS, PlanDesign
from msclab.plan.power import verdict_codes, wilson_interval
from msclab.plan.run import compute
from msclab.plan.simulator import donor_effects
from msclab.plan.sources import NORMAL, EffectModel

N_SIM = 40000  # Monte Carlo SE of a power <= 0.0025: 2 pp is 8 SE


def _normal_power(effect: float, sd: float, donors: int, threshold: float, seed: int) -> float:
    model = EffectModel("plain", NORMAL, effect, sd, 0.0, 0.0)
    x = donor_effects(model, 1.0, n_sim=N_SIM, donors=donors, events=1, rng=np.random.default_rng(seed))
    return float((verdict_codes(x, 1, threshold) == 1).mean())


def _analytic(effect: float, sd: float, n: int, threshold: float) -> float:
    """P(mean >= threshold and paired-t lower 95% bound > 0): exact, by integrating over the sample SD."""
    df, tc = n - 1, stats.t.ppf(0.975, n - 1)
    if threshold == 0:
        return float(stats.nct.sf(tc, df, effect * np.sqrt(n) / sd))

    def integrand(s: float) -> float:  # s = sample SD; (n-1) s^2 / sd^2 ~ chi2(n-1)
        density = stats.chi2.pdf(df * s**2 / sd**2, df) * 2 * df * s / sd**2
        cut = max(threshold, tc * s / np.sqrt(n))
        return density * stats.norm.sf(cut, effect, sd / np.sqrt(n))

    return float(integrate.quad(integrand, 0, 20 * sd, limit=200)[0])


@pytest.mark.parametrize("donors", [3, 5, 8, 12])
def test_plain_paired_power_matches_noncentral_t(donors):
    for i, effect in enumerate((0.1, 0.25, 0.5, 1.0)):
        simulated = _normal_power(effect, 0.4, donors, 0.0, seed=donors * 10 + i)
        analytic = _analytic(effect, 0.4, donors, 0.0)
        assert abs(simulated - analytic) < 0.02, (donors, effect, simulated, analytic)


@pytest.mark.parametrize("donors", [3, 6, 10])
def test_plain_paired_power_with_threshold_matches_integral(donors):
    for i, effect in enumerate((0.2, 0.4, 0.8)):
        simulated = _normal_power(effect, 0.3, donors, 0.26, seed=100 + donors * 10 + i)
        analytic = _analytic(effect, 0.3, donors, 0.26)
        assert abs(simulated - analytic) < 0.02, (donors, effect, simulated, analytic)


def test_analytic_threshold_integral_reduces_to_nct():
    # a threshold far below the CI cut leaves only the t condition
    assert _analytic(0.5, 0.4, 6, 1e-9) == pytest.approx(_analytic(0.5, 0.4, 6, 0.0), abs=1e-4)


@pytest.fixture(scope="module")
def default_table():
    design = PlanDesign(donors=(3, 4, 6, 8, 12), events=(1000, 4000, 20000), n_sim=4000, seed=1)
    return compute(design).table


def test_table_has_contract_columns(default_table):
    assert tuple(default_table.columns[: len(PLAN_COLUMNS)]) == PLAN_COLUMNS
    assert set(default_table["contrast"]) == {"msc_1to10", "msc_1to50"}
    assert "th2_frequency" not in set(default_table["effect_id"])  # literature conflicting: not scored


def test_power_rises_with_donors(default_table):
    # only effects beyond the verdict threshold: for a true effect below it (Treg at 1:50, 0.19 < 0.26)
    # more donors make the "does not reach the threshold" verdict more certain, and power falls
    above = default_table[default_table["effect"].abs() > 1.2 * default_table["threshold"]]
    assert above["effect_id"].nunique() >= 8
    for _, sub in above.groupby(["effect_id", "contrast", "events"]):
        power = sub.sort_values("donors")["power"].to_numpy()
        # nested donor sets: power may only stall within Monte Carlo noise (4 SE at n=4000)
        assert np.all(np.diff(power) > -0.03), sub
        assert power[-1] >= power[0]


def test_power_rises_with_events_for_rare_populations(default_table):
    sub = default_table[(default_table["effect_id"] == "th17_frequency") & (default_table["contrast"] == "msc_1to10")]
    wide = sub.pivot(index="donors", columns="events", values="power")
    assert np.all(wide[20000] >= wide[1000] - 0.03)
    assert (wide[20000] - wide[1000]).mean() > 0.1  # ~6 vs ~140 Th17 events per tube


def test_power_never_falls_with_events(default_table):
    # effects beyond the threshold: more events per tube only remove counting noise
    above = default_table[default_table["effect"].abs() > 1.2 * default_table["threshold"]]
    for _, sub in above.groupby(["effect_id", "contrast", "donors"]):
        power = sub.sort_values("events")["power"].to_numpy()
        assert np.all(np.diff(power) > -0.03), sub  # 4 Monte Carlo SE at n=4000
        assert power[-1] >= power[0] - 0.02


def test_null_false_call_rate_at_most_five_percent(default_table):
    # every design point (effect x contrast x donors x events); point estimates from 4000 null
    # experiments, so the bound allows 2.5 Monte Carlo SE
    assert len(default_table) == default_table.groupby(["effect_id", "contrast", "donors", "events"]).ngroups
    assert (default_table["false_call_rate"] <= 0.05 + 2.5 * np.sqrt(0.05 * 0.95 / 4000)).all()
    assert default_table["false_call_rate"].mean() < 0.05


def test_power_falls_with_donors_below_threshold(default_table):
    sub = default_table[(default_table["effect_id"] == "treg_frequency") & (default_table["contrast"] == "msc_1to50")
                        & (default_table["events"] == 20000)].sort_values("donors")
    assert (sub["effect"].abs() < sub["threshold"]).all()
    assert sub["power"].iloc[-1] < sub["power"].max()


def test_wilson_interval_known_value():
    # Wilson 95% interval of 8/10 (Newcombe 1998, Stat Med 17:857, table I): 0.4902-0.9433
    low, high = wilson_interval(np.array(8), 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
