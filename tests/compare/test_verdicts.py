"""Verdict rules, modifiers, mapping and contexts on hand-made effects tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from msclab.compare import Modifiers, score
from msclab.compare.verdicts import classify, expected_sign
from msclab.errors import MsclabError


@pytest.mark.parametrize(
    ("sign", "est", "low", "high", "rule", "code"),
    [
        (-1, -0.5, -0.8, -0.2, "estimate", 1),   # down, beyond 0.26, CI excludes 0
        (-1, -0.5, -0.8, -0.2, "ci", 0),         # strict: CI reaches inside the threshold
        (-1, -0.5, -0.7, -0.3, "ci", 1),
        (-1, -0.2, -0.3, -0.1, "estimate", 0),   # significant but smaller than 0.26
        (-1, -0.5, -1.0, 0.1, "estimate", 0),    # CI spans 0
        (-1, 0.6, 0.3, 0.9, "estimate", -1),     # went up instead
        (1, 0.6, 0.3, 0.9, "estimate", 1),
        (0, 0.05, -0.1, 0.2, "estimate", 1),     # no change expected, CI inside +/-0.26
        (0, 0.6, 0.3, 0.9, "estimate", -1),
        (0, 0.1, -0.2, 0.4, "estimate", 0),
        (1, 0.6, np.nan, np.nan, "estimate", 0),  # one donor: no CI
    ],
)
def test_classify(sign, est, low, high, rule, code) -> None:
    assert classify(sign, est, low, high, 0.26, rule) == code


def test_suppression_scale_counts_down_as_positive() -> None:
    assert expected_sign("down", "pct_suppression") == 1
    assert expected_sign("down", "log2_fc") == -1
    assert expected_sign("no_change", "log2_ratio") == 0


def _effects(**columns) -> pd.DataFrame:
    base = dict(readout="r1", contrast="c", estimate=-0.2, ci_low=-0.3, ci_high=-0.1, p_value=0.01, q_value=0.02,
                n_donors=8, unit="pg/mL", scale="log2_fc", catalogue_id="tnfa", msc_ratio="1:10", culture="contact",
                msc_source="BM", msc_licensing="IFNg",
                donor_values=json.dumps({f"D{i}": v for i, v in enumerate([-0.3, -0.1, -0.25, -0.15, -0.2, -0.22, -0.18, -0.2])}))
    base.update(columns)
    return pd.DataFrame([base])


def _row(effects, **kwargs):
    table = score(effects, n_boot=50, **kwargs).table
    return table[table["verdict"] != "not_measured"].iloc[0]


def test_low_ratio_halves_the_required_effect() -> None:
    assert _row(_effects())["verdict"] == "inconclusive"             # -0.2 < 0.26 required
    row = _row(_effects(msc_ratio="1:100"))
    assert row["modifiers"] == "mod_dose_ratio" and row["threshold"] == pytest.approx(0.13)
    assert row["verdict"] == "concordant"
    assert _row(_effects(msc_ratio="1:50"))["modifiers"] == ""       # "below 1:50" is strict
    assert _row(_effects(msc_ratio="1:100"), modifiers=Modifiers(msc_ratio="1:5"))["modifiers"] == ""


def test_transwell_weakens_contact_dependent_entries_only() -> None:
    treg = _row(_effects(catalogue_id="treg_frequency", scale="log2_ratio", estimate=0.2, ci_low=0.1, ci_high=0.3,
                         culture="transwell"))
    assert treg["modifiers"] == "mod_contact_transwell" and treg["verdict"] == "concordant"
    assert _row(_effects(culture="transwell"))["modifiers"] == ""


def test_unlicensed_msc_weaken_b_cell_entries() -> None:
    pb = dict(catalogue_id="plasmablast_frequency", scale="log2_ratio")
    assert _row(_effects(**pb, msc_licensing=""))["modifiers"] == "mod_ifng_licensing"
    assert _row(_effects(**pb, msc_licensing="none"))["modifiers"] == "mod_ifng_licensing"
    assert _row(_effects(**pb))["modifiers"] == ""
    assert _row(_effects(**pb, msc_licensing=""), modifiers=Modifiers(licensed=True))["modifiers"] == ""
    assert _row(_effects(msc_licensing=""))["modifiers"] == ""          # not a B-cell entry


def test_sle_derived_msc_weaken_every_effect() -> None:
    row = _row(_effects(msc_source="SLE patient BM", msc_ratio="1:100"))
    assert row["modifiers"] == "mod_dose_ratio;mod_sle_derived_msc"
    assert row["threshold"] == pytest.approx(0.13)                      # halved once, not twice
    assert _row(_effects(), modifiers=Modifiers(sle_derived=True))["modifiers"] == "mod_sle_derived_msc"


def test_proliferation_threshold_is_20_percent_suppression() -> None:
    prolif = dict(catalogue_id="t_prolif_cd4", scale="pct_suppression", unit="%")
    assert _row(_effects(**prolif, estimate=25.0, ci_low=15.0, ci_high=35.0))["verdict"] == "concordant"
    assert _row(_effects(**prolif, estimate=15.0, ci_low=10.0, ci_high=20.0))["verdict"] == "inconclusive"
    assert _row(_effects(**prolif, estimate=-30.0, ci_low=-40.0, ci_high=-20.0))["verdict"] == "discordant"


def test_context_selects_direction_and_references() -> None:
    il17 = dict(catalogue_id="il17a", estimate=0.05, ci_low=-0.1, ci_high=0.2)
    vitro = _row(_effects(**il17))
    assert (vitro["expected"], vitro["evidence"], vitro["verdict"]) == ("down", "moderate", "inconclusive")
    patient = _row(_effects(**il17), context="sle_patient_trial")
    assert (patient["expected"], patient["verdict"]) == ("no_change", "concordant")
    assert patient["references"] == "LiuHQ2011" and patient["weight"] == pytest.approx(0.4)
    fallback = _row(_effects(catalogue_id="anti_dsdna"))                # nothing stated in vitro: overall
    assert (fallback["context_used"], fallback["expected"], fallback["evidence"]) == ("overall", "down", "moderate")
    mouse = _row(_effects(**il17), context="sle_mouse_model")           # overall evidence is conflicting
    assert mouse["context_used"] == "overall" and mouse["verdict"] == "literature_conflicting"
    with pytest.raises(MsclabError, match="context"):
        score(_effects(), context="in_silico")


def test_references_mark_unverified_keys() -> None:
    row = _row(_effects(catalogue_id="th17_frequency", scale="log2_ratio"))
    assert "Ghannam2010 (unverified)" in row["references"] and "WangD2017CMI" in row["references"]
    assert "WangD2017CMI (unverified)" not in row["references"]


def test_mapping_overrides_catalogue_ids() -> None:
    effects = pd.concat([_effects(), _effects(readout="r2", catalogue_id="")], ignore_index=True)
    table = score(effects, n_boot=50, mapping={"r1": None, "r2": "il12"}).table
    measured = table[table["verdict"] != "not_measured"]
    assert list(measured["readout"]) == ["r2"] and list(measured["effect_id"]) == ["il12"]
    with pytest.raises(MsclabError, match="do not exist"):
        score(effects, mapping={"r2": "il99"})


def test_two_readouts_share_the_weight_of_one_entry() -> None:
    effects = pd.concat([_effects(), _effects(readout="r2")], ignore_index=True)
    table = score(effects, n_boot=50).table
    assert list(table.loc[table["effect_id"] == "tnfa", "weight"]) == [0.5, 0.5]
