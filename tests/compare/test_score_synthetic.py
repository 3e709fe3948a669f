"""Verdicts on synthetic studies with planted effects, and on null studies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from msclab.compare import COMPARISON_COLUMNS, score
from msclab.stats import Contrast, estimate_effects

CONTRAST = Contrast(name="MSC 1:10", treatment={"condition": "PBMC+MSC"}, control={"condition": "PBMC"})


def _compare(study, **kwargs):
    effects = estimate_effects(study.readouts, CONTRAST, n_boot=200, sensitivity=False)
    return effects, score(effects, n_boot=200, **kwargs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_verdicts_are_recovered(study_factory, seed) -> None:
    study = study_factory(seed=seed)
    _, result = _compare(study)
    table = result.table
    measured = table[table["verdict"] != "not_measured"].set_index("effect_id")
    assert list(table.columns[: len(COMPARISON_COLUMNS)]) == list(COMPARISON_COLUMNS)
    scorable = [i for i, v in study.planted.items() if v != "literature_conflicting"]
    assert len(scorable) == 35
    hits = np.mean([measured.loc[i, "verdict"] == study.planted[i] for i in scorable])
    assert hits >= 0.90
    conflicting = [i for i, v in study.planted.items() if v == "literature_conflicting"]
    assert set(conflicting) == {"th2_frequency", "t_cell_apoptosis", "b_prolif", "ig_secretion_in_vitro", "il4"}
    assert (measured.loc[conflicting, "verdict"] == "literature_conflicting").all()
    assert not measured.loc[conflicting, "scored"].any()
    # the score is the evidence-weighted share of concordant verdicts
    scored = measured[measured["scored"]]
    expected = (scored["weight"] * (scored["verdict"] == "concordant")).sum() / scored["weight"].sum()
    assert result.score == pytest.approx(expected)
    assert result.ci[0] <= result.score <= result.ci[1]


def test_null_studies_rarely_call_a_direction(study_factory) -> None:
    called, total = 0, 0
    for seed in range(5):
        _, result = _compare(study_factory(seed=100 + seed, null=True))
        scored = result.table[result.table["scored"]]
        called += scored["verdict"].isin(["concordant", "discordant"]).sum()
        total += len(scored)
    assert total == 5 * 35
    assert called / total <= 0.10


def test_summary_sentence(study_factory) -> None:
    ids = ["th1_frequency", "treg_frequency", "il17a", "th2_frequency"]
    study = study_factory(seed=5, ids=ids, planted={"th1_frequency": "concordant", "treg_frequency": "concordant",
                                                    "il17a": "discordant"})
    _, result = _compare(study)
    assert result.summary.startswith(
        "2 of 3 measured effects agree with the review; Th2 is conflicting in the literature; "
        "IL-17A went the other way; evidence-weighted concordance 0.71"
    )
    assert result.score == pytest.approx((1.0 + 0.7) / (1.0 + 0.7 + 0.7))
    not_measured = result.table[result.table["verdict"] == "not_measured"]
    assert "nk_proliferation" in set(not_measured["effect_id"]) and "anti_dsdna" not in set(not_measured["effect_id"])


def test_effects_csv_round_trip_gives_the_same_comparison(study_factory, tmp_path) -> None:
    effects, result = _compare(study_factory(seed=9, ids=["il10", "tnfa", "t_prolif_cd4"]))
    effects.to_csv(tmp_path / "effects.csv", index=False)
    again = score(pd.read_csv(tmp_path / "effects.csv"), n_boot=200)
    pd.testing.assert_frame_equal(result.table, again.table, check_dtype=False)
    assert again.ci == result.ci


def test_bootstrap_ci_is_seeded_and_brackets_the_score(study_factory) -> None:
    # small effects near the threshold: verdicts vary across bootstrap resamples
    study = study_factory(seed=4, log2_effect=0.35, suppression=22.0)
    effects, first = _compare(study)
    second = score(effects, n_boot=200)
    other = score(effects, n_boot=200, seed=1)
    assert first.ci == second.ci
    assert first.ci[0] < first.ci[1] and first.ci != other.ci
    assert 0 <= first.ci[0] <= first.score <= first.ci[1] <= 1
