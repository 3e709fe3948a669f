"""Discovery estimates beside the gated ones: planted directions, agreement and the disagreement flag.

The gated readouts come from the synthetic study of ``conftest.py`` (planted
verdicts); the discovery estimates from cluster counts drawn with planted
log2 changes and tested by :func:`msclab.discovery.abundance.population_differential`.
The expected agreement follows from the planted directions, not from the code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from msclab.compare import score
from msclab.compare.discovery import (
    BOTH_SIGNIFICANT,
    DISAGREE,
    DISAGREE_FLAG,
    DISCOVERY_COLUMNS,
    SAME_DIRECTION,
    agreement,
    beside_discovery,
    read_discovered,
)
from msclab.discovery.abundance import population_differential
from msclab.report.html import _beside_discovery
from msclab.stats import Contrast, estimate_effects

CONTRAST = Contrast(name="MSC 1:10", treatment={"condition": "PBMC+MSC"}, control={"condition": "PBMC"})
IDS = ["treg_frequency", "th1_frequency", "th17_frequency"]
#: Named clusters: cluster -> (annotation, catalogue id, control fraction of T cells).
CLUSTERS = {"0": ("CD4 T", "", 0.55), "1": ("Th1", "th1_frequency", 0.12), "2": ("Th1", "th1_frequency", 0.05),
            "3": ("Treg", "treg_frequency", 0.06), "4": ("Th17", "th17_frequency", 0.03), "5": ("CD8 T", "", 0.19)}


def _discovered(study, planted: dict[str, float], seed: int = 0, events: int = 8000) -> pd.DataFrame:
    """Cluster counts per sample with the planted log2 change of each named population; its population test."""
    rng = np.random.default_rng(seed)
    obs = study.readouts.obs.set_index("sample_id", drop=False)
    rows = []
    for sid, sample in obs.iterrows():
        treated = sample["condition"] == "PBMC+MSC"
        shares = np.array([f * 2 ** ((planted.get(a, 0.0) + rng.normal(0, 0.15)) if treated else 0.0)
                           for a, _, f in CLUSTERS.values()])
        donor = 2 ** rng.normal(0, 0.2, len(shares))  # donor-level variation of every population
        counts = rng.multinomial(events, shares * donor / (shares * donor).sum())
        rows += [{"sample_id": sid, "cluster": c, "count": int(n), "fraction": n / events}
                 for c, n in zip(CLUSTERS, counts, strict=True)]
    clusters = pd.DataFrame({"cluster": list(CLUSTERS), "annotation": [a for a, _, _ in CLUSTERS.values()],
                             "catalogue_id": [i for _, i, _ in CLUSTERS.values()]})
    return population_differential(pd.DataFrame(rows), clusters, obs, [CONTRAST]).assign(panel="sim")


def test_agreement_rules():
    assert agreement(-0.7, 0.001, -0.6, 0.01) == BOTH_SIGNIFICANT
    assert agreement(0.7, 0.001, 0.6, 0.2) == SAME_DIRECTION
    assert agreement(0.7, 0.3, 0.6, 0.001) == SAME_DIRECTION
    assert agreement(0.7, 0.001, -0.6, 0.001) == DISAGREE
    assert agreement(np.nan, np.nan, 0.6, 0.001) == ""


def test_discovery_estimates_sit_beside_the_gated_ones_with_their_agreement(study_factory):
    # Gated: every effect planted concordant (Treg up, Th1 and Th17 down; catalogue directions).
    study = study_factory(seed=4, ids=IDS, planted={i: "concordant" for i in IDS})
    effects = estimate_effects(study.readouts, CONTRAST, n_boot=200, sensitivity=False)
    # Discovery: Treg up and Th1 down as the gates, Th17 planted the other way (up) to be flagged.
    discovered = _discovered(study, {"Treg": 0.9, "Th1": -0.9, "Th17": 0.9})
    th1 = discovered[discovered["annotation"] == "Th1"].iloc[0]
    assert th1["n_clusters"] == 2  # the two Th1 clusters are one population

    plain = score(effects, n_boot=200)
    both = score(effects, n_boot=200, discovered=discovered)
    assert not set(DISCOVERY_COLUMNS) & set(plain.table.columns)  # unchanged without discovery
    assert both.score == pytest.approx(plain.score) and both.ci == plain.ci  # reported, not scored
    rows = both.table.set_index("effect_id")
    for effect, sign in (("treg_frequency", 1), ("th1_frequency", -1)):
        row = rows.loc[effect]
        assert np.sign(row["discovery_log2_ratio"]) == sign == np.sign(row["observed"]), effect
        assert row["discovery_ci_low"] < row["discovery_log2_ratio"] < row["discovery_ci_high"]
        assert row["agreement"] == BOTH_SIGNIFICANT and row["discovery_q_value"] < 0.05, row.to_dict()
        assert DISAGREE_FLAG not in str(row["flags"])
    th17 = rows.loc["th17_frequency"]
    assert th17["discovery_log2_ratio"] > 0 > th17["observed"]
    assert th17["agreement"] == DISAGREE and DISAGREE_FLAG in th17["flags"]
    assert "discovery goes the other way" in th17["reason"] and th17["verdict"] == plain.table.set_index(
        "effect_id").loc["th17_frequency", "verdict"]
    assert "agree in direction with the gates on 2 of 3 readouts" in both.summary
    # The report's comparison section lists the rows with a discovery estimate, and nothing without discovery.
    shown = _beside_discovery(both)
    assert shown.count("<tr>") == 3 and DISAGREE in shown and BOTH_SIGNIFICANT in shown
    assert _beside_discovery(plain) == ""
    # Entries without a named population (not measured here) carry no discovery estimate.
    assert (rows.loc[rows["verdict"] == "not_measured", "agreement"].fillna("") == "").all()


def test_read_discovered_keeps_named_populations_of_finished_panels(tmp_path, study_factory):
    study = study_factory(seed=5, ids=IDS, planted={i: "concordant" for i in IDS})
    table = _discovered(study, {"Treg": 0.5}).drop(columns="panel")
    table.to_csv(tmp_path / "populations.csv", index=False)
    steps = {"discovery": {"treg": {"status": "ok", "outputs": {"populations": str(tmp_path / "populations.csv")}},
                           "th_ics": {"status": "failed", "reason": "no events"}}}
    found = read_discovered(steps)
    assert set(found["panel"]) == {"treg"}
    assert set(found["annotation"]) == {"Treg", "Th1", "Th17"}  # CD4 T and CD8 T have no catalogue id
    assert read_discovered({}).empty


def test_a_readout_takes_the_estimate_of_its_own_panel():
    table = pd.DataFrame({"effect_id": ["treg_frequency"] * 2, "contrast": ["c"] * 2, "observed": [0.5, 0.5],
                          "q_value": [0.01, 0.01], "scale": ["log2_fc"] * 2, "reason": ["r"] * 2, "flags": [""] * 2,
                          "readout": ["flow:treg_b:/T cells/CD4/Treg:pct_parent", "flow:other:/Treg:pct_parent"]})
    discovered = pd.DataFrame({"panel": ["treg_a", "treg_b"], "contrast": ["c", "c"], "annotation": ["Treg"] * 2,
                               "catalogue_id": ["treg_frequency"] * 2, "log2_ratio": [-0.4, 0.6],
                               "ci_low": [-0.6, 0.3], "ci_high": [-0.2, 0.9], "q_value": [0.01, 0.01],
                               "n_donors": [6, 6]})
    out = beside_discovery(table, discovered)
    # Its own panel where discovery ran on it; else the first panel by name.
    assert out["discovery_panel"].tolist() == ["treg_b", "treg_a"]
    assert out["agreement"].tolist() == [BOTH_SIGNIFICANT, DISAGREE]
    assert out["flags"].tolist() == ["", DISAGREE_FLAG]
    # A % suppression is positive when the readout falls: it agrees with a falling cluster.
    suppression = table.iloc[[1]].assign(scale="pct_suppression")
    assert beside_discovery(suppression, discovered)["agreement"].tolist() == [BOTH_SIGNIFICANT]
