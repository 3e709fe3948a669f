"""Matched-control normalisation and the censoring rule, on hand-checkable numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from msclab.errors import MsclabError
from msclab.normalise.censoring import CensoringRule, apply_censoring
from msclab.normalise.controls import donor_effects, paired_effects
from msclab.readouts import build_readouts
from msclab.stats import Contrast, estimate_effects


def _rec(sid, readout, value, kind="concentration", unit="pg/mL", flag="ok"):
    return dict(sample_id=sid, readout=readout, value=value, kind=kind, unit=unit, flag=flag)


def test_control_on_the_same_plate_is_preferred(sample_row, contrast) -> None:
    samples = pd.DataFrame([
        sample_row("c1", "D1", "PBMC", plate="P1"),
        sample_row("c2", "D1", "PBMC", plate="P2"),
        sample_row("t2", "D1", "PBMC+MSC", "1:10", plate="P2"),
        sample_row("t3", "D1", "PBMC+MSC", "1:10", plate="P3"),
    ])
    recs = [_rec("c1", "a", 100), _rec("c2", "a", 400), _rec("t2", "a", 200), _rec("t3", "a", 125)]
    paired = paired_effects(build_readouts(samples, recs), contrast).set_index("sample_id")
    assert paired.loc["t2", "control_ids"] == "c2"
    assert paired.loc["t2", "effect"] == pytest.approx(-1.0)          # log2(200 / 400)
    assert paired.loc["t3", "control_ids"] == "c1;c2"                  # no P3 control: both, averaged
    assert paired.loc["t3", "effect"] == pytest.approx(-1.0)          # log2(125 / 250)
    donors = donor_effects(paired.reset_index())
    assert donors.loc[0, "n_samples"] == 2 and donors.loc[0, "effect"] == pytest.approx(-1.0)


def test_controls_match_on_stimulus_and_timepoint(sample_row, contrast) -> None:
    samples = pd.DataFrame([
        sample_row("c24", "D1", "PBMC", timepoint="24h"),
        sample_row("c72", "D1", "PBMC", timepoint="72h"),
        sample_row("t72", "D1", "PBMC+MSC", "1:10", timepoint="72h"),
        sample_row("cD2", "D2", "PBMC", timepoint="72h"),
    ])
    recs = [_rec("c24", "a", 10), _rec("c72", "a", 80), _rec("t72", "a", 20), _rec("cD2", "a", 1)]
    paired = paired_effects(build_readouts(samples, recs), contrast)
    assert list(paired["control_ids"]) == ["c72"]
    assert paired["effect"].iloc[0] == pytest.approx(-2.0)


def test_proliferation_suppression_subtracts_unstimulated_background(sample_row) -> None:
    samples = pd.DataFrame([
        sample_row("c", "D1", "PBMC"),
        sample_row("t", "D1", "PBMC+MSC", "1:10"),
        sample_row("u", "D1", "PBMC", stimulus="none", control_type="unstimulated"),
    ])
    recs = [_rec(s, "p", v, kind="proliferation", unit="%") for s, v in (("c", 70), ("t", 35), ("u", 10))]
    readouts = build_readouts(samples, recs)
    with_bg = Contrast(name="x", treatment={"condition": "PBMC+MSC"}, control={"condition": "PBMC", "stimulus": "PHA"},
                       background={"control_type": "unstimulated"})
    row = paired_effects(readouts, with_bg).iloc[0]
    assert row["scale"] == "pct_suppression"
    assert row["background_ids"] == "u"
    assert row["effect"] == pytest.approx(100 * (1 - 25 / 60))       # 58.33 %
    without = Contrast(name="y", treatment={"condition": "PBMC+MSC"}, control={"condition": "PBMC", "stimulus": "PHA"})
    assert paired_effects(readouts, without).iloc[0]["effect"] == pytest.approx(50.0)


def test_frequency_gives_log2_ratio_and_percentage_points(sample_row, contrast) -> None:
    samples = pd.DataFrame([sample_row("c", "D1", "PBMC"), sample_row("t", "D1", "PBMC+MSC", "1:10")])
    recs = [_rec("c", "f", 4.0, kind="frequency", unit="%"), _rec("t", "f", 6.0, kind="frequency", unit="%")]
    row = paired_effects(build_readouts(samples, recs), contrast).iloc[0]
    assert row["scale"] == "log2_ratio"
    assert row["effect"] == pytest.approx(np.log2(1.5))
    assert row["diff_pp"] == pytest.approx(2.0)


def test_non_positive_values_are_reported_not_hidden(sample_row, contrast) -> None:
    samples = pd.DataFrame([sample_row("c", "D1", "PBMC"), sample_row("t", "D1", "PBMC+MSC", "1:10")])
    recs = [_rec("c", "f", 0.0, kind="frequency", unit="%"), _rec("t", "f", 1.0, kind="frequency", unit="%")]
    row = paired_effects(build_readouts(samples, recs), contrast).iloc[0]
    assert np.isnan(row["effect"]) and "log ratio undefined" in row["note"]


def _censored_study(sample_row, n_donors=8):
    samples, recs = [], []
    rng = np.random.default_rng(2)
    for d in range(n_donors):
        c, t = f"c{d}", f"t{d}"
        samples += [sample_row(c, f"D{d}", "PBMC"), sample_row(t, f"D{d}", "PBMC+MSC", "1:10")]
        control = 40 * 2 ** rng.normal(0, 0.2)
        recs += [_rec(c, "il10", control), _rec(t, "il10", 8.0 if d == 0 else control * 2, flag="<LLOQ" if d == 0 else "ok")]
    return build_readouts(pd.DataFrame(samples), recs)


def test_lloq_values_are_substituted_by_lloq_over_sqrt2_and_recorded(sample_row, contrast) -> None:
    readouts = _censored_study(sample_row)
    table = apply_censoring(readouts)
    assert table.values.loc["t0", "il10"] == pytest.approx(8.0 / np.sqrt(2))
    assert bool(table.censored.loc["t0", "il10"]) and table.censored.values.sum() == 1
    effects = estimate_effects(readouts, contrast).iloc[0]
    assert effects["n_censored"] == 1
    assert effects["censoring"] == "<LLOQ -> LLOQ/sqrt(2); >ULOQ -> ULOQ"
    assert effects["n_donors"] == 8
    # sensitivity analysis: the censored donor is dropped
    assert effects["sensitivity_n_donors"] == 7
    assert effects["sensitivity_estimate"] == pytest.approx(1.0)      # every other donor: exactly x2
    donor0 = np.log2((8.0 / np.sqrt(2)) / table.values.loc["c0", "il10"])
    assert effects["estimate"] == pytest.approx((7 * 1.0 + donor0) / 8)


def test_censoring_rules_and_limits_from_var(sample_row) -> None:
    readouts = _censored_study(sample_row)
    assert apply_censoring(readouts, CensoringRule(below="lloq_half")).values.loc["t0", "il10"] == 4.0
    assert np.isnan(apply_censoring(readouts, CensoringRule(below="drop")).values.loc["t0", "il10"])
    readouts.var["lloq"] = "10"
    assert apply_censoring(readouts).values.loc["t0", "il10"] == pytest.approx(10 / np.sqrt(2))


def test_failed_samples_and_masked_values_are_excluded_and_counted(sample_row, contrast) -> None:
    samples = pd.DataFrame([
        sample_row("c1", "D1", "PBMC"), sample_row("t1", "D1", "PBMC+MSC", "1:10", status="failed"),
        sample_row("c2", "D2", "PBMC"), sample_row("t2", "D2", "PBMC+MSC", "1:10"),
        sample_row("c3", "D3", "PBMC"), sample_row("t3", "D3", "PBMC+MSC", "1:10"),
    ])
    recs = [_rec("c1", "a", 10), _rec("t1", "a", 5), _rec("c2", "a", 10), _rec("t2", "a", 5),
            _rec("c3", "a", 10), _rec("t3", "a", 1, flag="masked")]
    effects = estimate_effects(build_readouts(samples, recs), contrast).iloc[0]
    assert effects["n_donors"] == 1
    assert effects["n_excluded"] == 2


def test_bad_contrasts_are_refused(sample_row) -> None:
    samples = pd.DataFrame([sample_row("c", "D1", "PBMC"), sample_row("t", "D1", "PBMC+MSC", "1:10")])
    readouts = build_readouts(samples, [_rec("c", "a", 1), _rec("t", "a", 2)])
    with pytest.raises(MsclabError, match="lacks"):
        paired_effects(readouts, Contrast(name="x", treatment={"arm": "MSC"}, control={"condition": "PBMC"}))
    with pytest.raises(MsclabError, match="both as treated and as control"):
        paired_effects(readouts, Contrast(name="x", treatment={"donor": "D1"}, control={"condition": "PBMC"}))
    with pytest.raises(MsclabError, match="match_on"):
        paired_effects(readouts, Contrast(name="x", treatment={"condition": "PBMC+MSC"}, control={"condition": "PBMC"},
                                          match_on=["passage"]))
