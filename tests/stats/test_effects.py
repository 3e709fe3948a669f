"""The effects table: contract columns, q-value families, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

from msclab.errors import MsclabError
from msclab.stats import EFFECT_COLUMNS, Contrast, bh_qvalues, estimate_effects


def test_contract_columns_and_planted_directions(lognormal_study, contrast) -> None:
    deltas = np.array([-1.0, 0.0, 1.0])
    effects = estimate_effects(lognormal_study(deltas, seed=4), contrast)
    assert list(effects.columns[: len(EFFECT_COLUMNS)]) == list(EFFECT_COLUMNS)
    assert (effects["n_donors"] == 8).all() and (effects["unit"] == "pg/mL").all()
    assert effects.loc[0, "ci_high"] < 0 < effects.loc[2, "ci_low"]
    assert effects.loc[0, "p_value"] < 0.001 and effects.loc[0, "p_wilcoxon"] == pytest.approx(2 / 2**8)
    assert effects.loc[0, "ci_low_boot"] < effects.loc[0, "estimate"] < effects.loc[0, "ci_high_boot"]
    assert (effects["msc_ratio"] == "1:10").all()
    donors = json.loads(effects.loc[0, "donor_values"])
    assert len(donors) == 8 and np.mean(list(donors.values())) == pytest.approx(effects.loc[0, "estimate"])


def test_q_values_are_per_contrast(lognormal_study, contrast) -> None:
    readouts = lognormal_study(np.linspace(-0.5, 0.5, 6), seed=8)
    other = Contrast(name="again", treatment={"condition": "PBMC+MSC"}, control={"condition": "PBMC"})
    effects = estimate_effects(readouts, [contrast, other])
    assert len(effects) == 12
    for _, group in effects.groupby("contrast"):
        np.testing.assert_allclose(group["q_value"], bh_qvalues(group["p_value"]))


def test_results_are_deterministic_for_a_seed(lognormal_study, contrast) -> None:
    readouts = lognormal_study(np.array([0.3, -0.2]), seed=1)
    a = estimate_effects(readouts, contrast, seed=7)
    b = estimate_effects(readouts, contrast, seed=7)
    c = estimate_effects(readouts, contrast, seed=8)
    assert a.equals(b)
    assert not np.allclose(a["ci_low_boot"], c["ci_low_boot"])


def test_contrast_names_must_be_unique(lognormal_study, contrast) -> None:
    with pytest.raises(MsclabError, match="unique"):
        estimate_effects(lognormal_study(np.array([0.0]), seed=0), [contrast, contrast])
