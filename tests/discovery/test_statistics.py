"""Differential abundance and annotation on data with a known answer (no clustering: fast)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from msclab.discovery.abundance import abundance_table, differential_abundance, fit_prior
from msclab.discovery.annotate import UNASSIGNED, annotate_clusters, load_rules, marker_cuts
from msclab.discovery.events import discovery_markers, is_phenotype_marker
from msclab.errors import MsclabError
from msclab.experiment.contrasts import Contrast
from msclab.experiment.model import Discovery, Panel
from msclab.settings import Settings

CONTRAST = Contrast(name="msc", treatment={"condition": "MSC"}, control={"condition": "PBMC"}, match_on=[])


def _study(rng: np.random.Generator, n_donors: int, base: np.ndarray, fold: np.ndarray, n_events: int = 5000,
           culture_sd: float = 0.15) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts of clusters per sample: donor baseline on the log scale, culture noise, multinomial draws."""
    ids, clusters, obs = [], [], []
    for d in range(n_donors):
        donor = np.log(base) + rng.normal(0, 0.3, base.size)
        for condition, effect in (("PBMC", np.ones_like(fold)), ("MSC", fold)):
            p = np.exp(donor + np.log(effect) + rng.normal(0, culture_sd, base.size))
            counts = rng.multinomial(n_events, p / p.sum())
            sid = f"D{d}_{condition}"
            ids += [sid] * n_events
            clusters += list(np.repeat(np.arange(base.size).astype(str), counts))
            obs.append({"sample_id": sid, "donor": f"D{d}", "condition": condition})
    return abundance_table(np.array(ids), np.array(clusters)), pd.DataFrame(obs).set_index("sample_id", drop=False)


def test_abundance_fractions_sum_to_one_and_keep_empty_clusters():
    table = abundance_table(np.array(["a", "a", "a", "b"]), np.array(["0", "1", "1", "0"]))
    assert table.groupby("sample_id")["fraction"].sum().tolist() == [1.0, 1.0]
    assert table.set_index(["sample_id", "cluster"]).loc[("b", "1"), "count"] == 0


def test_null_p_values_are_calibrated():
    """Without an effect, p < 0.05 in about 5% of clusters (binomial 99.9% bound over 40 studies x 12 clusters)."""
    rng = np.random.default_rng(1)
    base = np.array([0.3, 0.2, 0.15, 0.1, 0.08, 0.05, 0.04, 0.03, 0.02, 0.015, 0.01, 0.005])
    p = []
    for _ in range(40):
        abundance, obs = _study(rng, 6, base, np.ones_like(base))
        p += list(differential_abundance(abundance, obs, [CONTRAST], {})["p_value"])
    rate = np.mean(np.asarray(p) < 0.05)
    assert 0.01 <= rate <= 0.05 + 3.3 * np.sqrt(0.05 * 0.95 / len(p)), rate


def test_planted_effect_is_found_with_its_size():
    """A cluster halved in every donor: q < 0.05, negative, and the CI covers the planted log2 ratio."""
    rng = np.random.default_rng(2)
    base = np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])
    fold = np.ones_like(base)
    fold[1] = 0.5
    abundance, obs = _study(rng, 8, base, fold)
    table = differential_abundance(abundance, obs, [CONTRAST], {"1": "Treg"}).set_index("cluster")
    # Closed fractions: halving cluster 1 moves the others by 1 / (1 - base[1] / 2).
    planted = np.log2(0.5 / (1 - base[1] / 2))
    row = table.loc["1"]
    assert row["q_value"] < 0.05 and row["log2_ratio"] < 0
    assert row["ci_low"] <= planted <= row["ci_high"]
    assert row["annotation"] == "Treg" and row["n_donors"] == 8


def test_fit_prior_recovers_the_prior_degrees_of_freedom():
    """Variances drawn from a scaled inverse-chi-square prior (d0 = 6) and chi-square sampling (d = 5)."""
    rng = np.random.default_rng(3)
    d0, d, s0 = 6.0, 5, 0.04
    sigma2 = d0 * s0 / rng.chisquare(d0, 4000)
    s2 = sigma2 * rng.chisquare(d, 4000) / d
    prior, d0_hat = fit_prior(s2, d, np.zeros(4000))
    assert 4.5 <= d0_hat <= 8.0
    assert prior[0] == pytest.approx(s0, rel=0.15)


def test_fit_prior_without_extra_scatter_shrinks_fully():
    rng = np.random.default_rng(4)
    s2 = 0.05 * rng.chisquare(4, 4000) / 4
    _, d0 = fit_prior(s2, 4, np.zeros(4000))
    assert d0 > 50


def _events(rng, n, cd4, cd8, cd25, cd127, foxp3):
    return np.column_stack([rng.normal(m, 0.04, n) for m in (cd4, cd8, cd25, cd127, foxp3)])


def test_annotation_names_treg_and_lineages():
    rng = np.random.default_rng(5)
    markers = ["CD4", "CD8", "CD25", "CD127", "FoxP3"]
    lo, mid, hi = 0.15, 0.5, 0.75
    blocks = {"0": _events(rng, 4000, mid, lo, lo, mid, lo), "1": _events(rng, 2500, lo, mid, lo, mid, lo),
              "2": _events(rng, 300, mid, lo, hi, lo + 0.1, mid), "3": _events(rng, 700, mid, lo, mid - 0.1, mid, lo),
              "4": _events(rng, 1500, lo, lo, lo, lo, lo),
              # FoxP3+ CD25hi activated conventional cells keep CD127: not Tregs.
              "5": _events(rng, 200, mid, lo, hi, mid - 0.015, mid)}
    values = np.vstack(list(blocks.values()))
    labels = np.concatenate([[k] * len(v) for k, v in blocks.items()])
    table, skipped = annotate_clusters(values, markers, labels, load_rules("treg"))
    names = table.set_index("cluster")["annotation"]
    assert names.to_dict() == {"0": "CD4 T", "1": "CD8 T", "2": "Treg", "3": "CD4 T", "4": UNASSIGNED,
                              "5": "CD4 T"}
    treg = table.set_index("cluster").loc["2"]
    assert treg["catalogue_id"] == "treg_frequency" and treg["annotation_confidence"] > 0.9
    assert "Liu" in treg["reference"] and skipped == []


def test_rules_with_missing_markers_are_skipped_and_listed():
    rng = np.random.default_rng(6)
    values = _events(rng, 500, 0.5, 0.15, 0.15, 0.5, 0.15)[:, :2]
    _, skipped = annotate_clusters(values, ["CD4", "CD8"], np.array(["0"] * 500), load_rules("th_ics"))
    assert {"Th1", "Th17", "Tc1"} <= set(skipped)


def test_positive_cut_sits_above_the_negative_peak():
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(0.1, 0.03, 9500), rng.normal(0.6, 0.05, 500)])[:, None]
    cuts = marker_cuts(x, ["IL-17A"])
    assert 0.1 + 2.5 * 0.03 < cuts.positive["IL-17A"] < 0.1 + 3.5 * 0.03
    assert cuts.bright["IL-17A"] == pytest.approx(0.6, abs=0.02)


def test_default_markers_drop_dyes_and_scatter():
    markers = {"FSC-A": "FSC-A", "V525-A": "Viability", "V450-A": "CellTrace Violet", "B530-A": "CD3",
               "R780-A": "CD4", "R670-A": "FoxP3", "APC-Cy7-A": "Zombie NIR"}
    assert discovery_markers(markers, Discovery()) == ["CD3", "CD4", "FoxP3"]
    assert is_phenotype_marker("IFN-g") and not is_phenotype_marker("7-AAD")
    with pytest.raises(MsclabError, match="not markers of the panel"):
        discovery_markers(markers, Discovery(markers=["CD4", "IL-10"]))


def test_discovery_options_are_validated():
    panel = Panel(markers={"R780-A": "CD4"}, discovery={"resolution": 1.5})
    assert panel.discovery.resolution == 1.5 and panel.discovery.events_per_sample == 10000
    with pytest.raises(ValueError):
        Panel(markers={"R780-A": "CD4"}, discovery={"events_per_sample": 3})
    assert Settings(discovery=True).discovery and not Settings().discovery
