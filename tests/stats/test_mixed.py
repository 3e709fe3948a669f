"""Random-donor-intercept mixed model of per-pair effects (replicates nested in donors)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from msclab.readouts import build_readouts
from msclab.stats import effects as effects_module
from msclab.stats import estimate_effects
from msclab.stats.mixed import MIXED_COLUMNS, fit_random_intercept

#: The effects table before the mixed model; these columns keep their order and values.
PRIOR_COLUMNS = [
    "readout", "contrast", "estimate", "ci_low", "ci_high", "p_value", "q_value", "n_donors", "unit", "scale",
    "kind", "catalogue_id", "ci_low_boot", "ci_high_boot", "p_wilcoxon", "q_wilcoxon", "sd_donors", "diff_pp",
    "diff_pp_ci_low", "diff_pp_ci_high", "treated_mean", "control_mean", "n_censored", "censoring", "n_excluded",
    "notes", "sensitivity_estimate", "sensitivity_ci_low", "sensitivity_ci_high", "sensitivity_n_donors",
    "msc_ratio", "culture", "msc_source", "msc_licensing", "donor_values",
]


@pytest.fixture
def nested_study(sample_row):
    """Factory: one control and ``n_rep`` treated replicate cultures per donor, planted log2 effect."""

    def make(*, n_donors: int = 8, n_rep: int = 3, effect: float = 0.5, sd_donor: float = 0.4,
             sd_res: float = 0.3, n_readouts: int = 2, seed: int = 0):
        rng = np.random.default_rng(seed)
        samples, records = [], []

        def record(sid: str, log2v: np.ndarray) -> None:
            for j, v in enumerate(log2v):
                records.append(dict(sample_id=sid, readout=f"assay:R{j}:concentration", value=2.0**v,
                                    kind="concentration", unit="pg/mL"))

        for d in range(n_donors):
            donor = f"D{d + 1}"
            base = rng.normal(10, 1.0, size=n_readouts)
            shift = effect + rng.normal(0, sd_donor, size=n_readouts)
            samples.append(sample_row(f"{donor}-C", donor, "PBMC"))
            record(f"{donor}-C", base)
            for r in range(n_rep):
                sid = f"{donor}-T{r + 1}"
                samples.append(sample_row(sid, donor, "PBMC+MSC", "1:10", replicate=r + 1, msc_source="BM"))
                record(sid, base + shift + rng.normal(0, sd_res, size=n_readouts))
        return build_readouts(pd.DataFrame(samples), pd.DataFrame(records))

    return make


def _without_mixed(monkeypatch, readouts, contrast) -> pd.DataFrame:
    """The effects table as computed before the mixed model existed (hook stubbed out)."""
    with monkeypatch.context() as m:
        m.setattr(effects_module, "mixed_effects", lambda paired, names, confidence: pd.DataFrame(index=range(len(names))))
        return estimate_effects(readouts, contrast)


@pytest.mark.parametrize("reps", [[3] * 8, [1, 2, 3, 4, 1, 2, 3, 4]], ids=["balanced", "unbalanced"])
def test_interval_covers_the_planted_effect(reps: list[int]) -> None:
    rng = np.random.default_rng(11)
    truth, donors = 0.5, np.repeat(np.arange(len(reps)), reps)
    covered = []
    for _ in range(200):
        y = truth + rng.normal(0, 0.4, len(reps))[donors] + rng.normal(0, 0.3, donors.size)
        fit = fit_random_intercept(y, donors)
        covered.append(fit.ci_low <= truth <= fit.ci_high)
        assert fit.n_pairs == donors.size and fit.ci_low < fit.estimate < fit.ci_high
        if len(set(reps)) == 1:  # balanced: the GLS fixed effect is the grand mean for any variances
            assert fit.estimate == pytest.approx(y.mean(), rel=1e-9, abs=1e-12)
    assert 0.90 <= np.mean(covered) <= 0.99


def test_balanced_replicates_match_the_summary_measures_analysis(nested_study, contrast) -> None:
    effects = estimate_effects(nested_study(seed=3), contrast)
    assert list(effects.columns) == [*PRIOR_COLUMNS, *MIXED_COLUMNS]
    assert (effects["mixed_n_pairs"] == 24).all() and (effects["n_donors"] == 8).all()
    assert (effects["mixed_note"] == "").all() and (effects["mixed_sd_residual"] > 0).all()
    # Balanced with a positive donor variance: REML gives the grand mean and the exact
    # between-donor SE, so the t interval on n_donors - 1 df is the paired-t interval.
    np.testing.assert_allclose(effects["mixed_estimate"], effects["estimate"], rtol=1e-9)
    np.testing.assert_allclose(effects[["mixed_ci_low", "mixed_ci_high"]], effects[["ci_low", "ci_high"]], atol=1e-4)
    np.testing.assert_allclose(effects["mixed_p"], effects["p_value"], rtol=1e-3)


def test_existing_columns_are_unchanged(monkeypatch, nested_study, lognormal_study, contrast) -> None:
    for readouts in (lognormal_study(np.array([-1.0, 0.0, 1.0]), seed=4), nested_study(seed=5)):
        before = _without_mixed(monkeypatch, readouts, contrast)
        after = estimate_effects(readouts, contrast)
        assert list(before.columns) == PRIOR_COLUMNS
        pd.testing.assert_frame_equal(after[PRIOR_COLUMNS], before, check_exact=True)


def test_no_replicates_give_nan_mixed_columns(lognormal_study, contrast) -> None:
    effects = estimate_effects(lognormal_study(np.array([-1.0, 0.0, 1.0]), seed=4), contrast)
    numeric = [c for c in MIXED_COLUMNS if c != "mixed_note"]
    assert effects[numeric].isna().all().all() and (effects["mixed_note"] == "").all()


@pytest.mark.parametrize(
    ("design", "note"),
    [
        (dict(sd_res=0.0), "replicates identical within every donor"),
        (dict(n_donors=1), "fewer than 2 donors"),
        (dict(effect=0.0, sd_donor=0.0, sd_res=0.0), "replicates identical within every donor"),
    ],
    ids=["identical-replicates", "one-donor", "no-variation"],
)
def test_degenerate_designs_give_nan_with_a_note(nested_study, contrast, design: dict, note: str) -> None:
    effects = estimate_effects(nested_study(seed=2, **design), contrast)
    numeric = [c for c in MIXED_COLUMNS if c != "mixed_note"]
    assert effects[numeric].isna().all().all()
    assert (effects["mixed_note"] == f"mixed model not fitted: {note}").all()


def test_failed_fit_gives_nan_with_a_note(monkeypatch) -> None:
    def singular(*args, **kwargs):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr("statsmodels.regression.mixed_linear_model.MixedLM.fit", singular)
    fit = fit_random_intercept(np.array([0.1, 0.3, 0.2, 0.5]), np.array(["a", "a", "b", "b"]))
    assert np.isnan(fit.estimate) and np.isnan(fit.ci_low) and np.isnan(fit.p_value)
    assert fit.note == "mixed model failed: Singular matrix"


def test_boundary_fit_reports_zero_donor_sd() -> None:
    # Donor means identical, spread only within donors: the REML donor variance is 0.
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    fit = fit_random_intercept(y, np.repeat(["a", "b", "c"], 2))
    assert fit.estimate == pytest.approx(0.5) and fit.sd_donor == 0.0
    assert fit.note == "donor variance estimated at 0 (boundary fit)"
    assert fit.ci_low < 0.5 < fit.ci_high
