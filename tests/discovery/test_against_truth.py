"""Discovery against the simulator's truth: per-event F1 of the named clusters, planted effects in the comparison.

``msclab simulate --labels`` writes the true cell type and state of every event
(``labels/<sample>_<panel>.parquet``, rows in file order); discovery keeps the
row of every drawn event (``obs['event']`` of ``events.h5ad``), so each pooled
event has its true label. Acceptance (issue 17): the annotated Treg, Th1 and
Th17 clusters reach F1 >= 0.9 against the labels, and the comparison sets the
discovery estimate of each planted effect beside the gated one, in the planted
direction (msc_catalogue.md §4 defaults, :data:`msclab.simulate.effects.DEFAULT_EFFECTS`).
"""

from __future__ import annotations

import math

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from msclab.compare.discovery import BOTH_SIGNIFICANT, DISAGREE, DISCOVERY_COLUMNS
from msclab.pipeline import analyze
from msclab.settings import Settings
from msclab.simulate.effects import DEFAULT_EFFECTS
from msclab.simulate.study import StudyDesign, simulate_study

#: Named population -> (panel, true cell type, true state) of the simulator's labels.
TRUTH = {"Treg": ("treg", "cd4", "treg"), "Th1": ("th_ics", "cd4", "th1"), "Th17": ("th_ics", "cd4", "th17")}
EFFECT = {"Treg": "treg_frequency", "Th1": "th1_frequency", "Th17": "th17_frequency"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A 6-donor simulated study with event labels, analysed with discovery on every panel."""
    root = tmp_path_factory.mktemp("labelled")
    simulate_study(root / "study", StudyDesign(donors=6, events=6000, seed=3, labels=True, panels=("th_ics", "treg")))
    analyze(root / "study" / "experiment.yaml", root / "out", Settings(discovery=True, plots=False, n_boot=100))
    return root


def f1_score(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float]:
    """F1, precision and recall of a boolean prediction."""
    hits = float(np.sum(truth & predicted))
    precision, recall = hits / max(predicted.sum(), 1), hits / max(truth.sum(), 1)
    return (2 * precision * recall / (precision + recall) if hits else 0.0), precision, recall


def true_labels(root, panel: str, obs: pd.DataFrame) -> pd.DataFrame:
    """The simulator's ``cell_type`` and ``state`` of every pooled event (by sample and file row)."""
    parts = []
    for sid, group in obs.groupby("sample_id", observed=True):
        labels = pd.read_parquet(root / "study" / "labels" / f"{sid}_{panel}.parquet")
        rows = group["event"].to_numpy()
        parts.append(pd.DataFrame({"cell_type": labels["cell_type"].astype(str).to_numpy()[rows],
                                   "state": labels["state"].astype(str).to_numpy()[rows]}, index=group.index))
    return pd.concat(parts).loc[obs.index]


@pytest.mark.parametrize("name", list(TRUTH))
def test_named_clusters_match_the_event_labels(labelled, name):
    panel = TRUTH[name][0]
    obs = ad.read_h5ad(labelled / "out" / "discovery" / panel / "events.h5ad").obs
    _assert_f1(labelled, panel, obs, name)


def test_leiden_names_th17_apart_from_th1_17(labelled):
    """Leiden, the other method, also keeps the rare Th1/17 events out of the Th17 cluster: F1 >= 0.9."""
    from msclab.experiment import read_experiment
    from msclab.experiment.model import Discovery
    from msclab.discovery.run import discover_panel
    from msclab.flow.panel import quantify_panel

    exp = read_experiment(labelled / "study" / "experiment.yaml")
    result = discover_panel(exp, quantify_panel(exp, "th_ics"), Discovery(method="leiden", umap_events=2000), seed=0)
    _assert_f1(labelled, "th_ics", result.events.obs, "Th17")


def _assert_f1(labelled, panel: str, obs: pd.DataFrame, name: str) -> None:
    _, cell_type, state = TRUTH[name]
    labels = true_labels(labelled, panel, obs)
    truth = ((labels["cell_type"] == cell_type) & (labels["state"] == state)).to_numpy()
    predicted = (obs["annotation"].astype(str) == name).to_numpy()
    f1, precision, recall = f1_score(truth, predicted)
    print(f"{name}: F1 {f1:.3f} (precision {precision:.3f}, recall {recall:.3f}; "
          f"{truth.sum()} true of {len(obs)} pooled events)")
    assert truth.sum() > 100 and f1 >= 0.9, (name, f1, precision, recall)


def test_planted_effects_sit_beside_the_gates_in_the_planted_direction(labelled):
    table = pd.read_csv(labelled / "out" / "comparison.csv", keep_default_na=False, na_values=[""])
    assert set(DISCOVERY_COLUMNS) <= set(table.columns)
    rows = table[table["contrast"] == "msc_1to10"].set_index("effect_id")
    for name, effect in EFFECT.items():
        row = rows.loc[effect]
        planted = DEFAULT_EFFECTS[effect].size
        print(f"{name}: gated {row['observed']:+.2f} (q {row['q_value']:.2g}), discovery "
              f"{row['discovery_log2_ratio']:+.2f} [{row['discovery_ci_low']:+.2f}, {row['discovery_ci_high']:+.2f}] "
              f"(q {row['discovery_q_value']:.2g}), planted {planted:+.2f}: {row['agreement']}")
        assert row["discovery_population"] == name
        assert np.sign(row["discovery_log2_ratio"]) == np.sign(planted), name
        assert row["agreement"] != DISAGREE and "discovery_disagrees" not in str(row["flags"])
        assert row["discovery_ci_low"] <= planted <= row["discovery_ci_high"], name
    assert rows.loc["th1_frequency", "agreement"] == BOTH_SIGNIFICANT  # x0.6 over 6 donors: both find it
    assert math.isnan(rows.loc["ifng", "discovery_log2_ratio"])  # a cytokine has no cluster
    report = (labelled / "out" / "report.html").read_text(encoding="utf-8")
    assert 'id="beside-discovery"' in report and "Named populations" in report
