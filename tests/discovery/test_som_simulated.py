"""Discovery with ``method: som`` on a simulated study: annotated clusters against the gated fractions.

Same shape as the Leiden test of test_on_simulated_studies.py: the simulator
(:mod:`msclab.simulate`) plants the populations, and the gated fractions of the
same files are the independent reference for the annotated SOM metaclusters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from msclab.discovery import discover_panel
from msclab.experiment import read_experiment
from msclab.experiment.model import Discovery
from msclab.flow.panel import quantify_panel
from msclab.simulate.study import StudyDesign, simulate_study


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    simulate_study(root, StudyDesign(donors=3, events=6000, seed=11))
    return read_experiment(root / "experiment.yaml")


def _log_r(gated: pd.Series, found: pd.Series) -> float:
    ok = (gated > 0) & (found > 0)
    return float(np.corrcoef(np.log(gated[ok]), np.log(found[ok]))[0, 1])


@pytest.mark.slow
@pytest.mark.parametrize("panel, populations", [("th_ics", ["Th1", "Th17"]), ("treg", ["Treg"])])
def test_som_annotated_fractions_follow_the_gates(small_study, panel, populations):
    gated = quantify_panel(small_study, panel)
    # Every parent event is drawn (files of 6,000 events), so clusters and gates see the same events.
    result = discover_panel(small_study, gated, Discovery(method="som"), seed=0)
    assert result.record["method"] == "som" and result.record["grid"] == [10, 10]
    assert result.events.obs["cluster"].nunique() == result.record["n_metaclusters"] == 30
    pops = gated.populations
    t_cells = pops[pops["name"] == "T cells"].set_index("sample_id")["count"]
    named = result.abundance.merge(result.clusters[["cluster", "annotation"]], on="cluster")
    for name in populations:
        reference = pops[pops["name"] == name].set_index("sample_id")["count"] / t_cells
        found = named[named["annotation"] == name].groupby("sample_id")["fraction"].sum()
        common = reference.index.intersection(found.index)
        assert len(common) >= 10, name
        r = _log_r(reference[common], found[common])
        print(f"som {panel} {name}: log-scale r = {r:.3f} over {len(common)} samples")
        assert r >= 0.95, (name, r)


@pytest.mark.slow
def test_som_clusters_and_umap_are_reproducible_for_a_seed():
    from msclab.discovery.cluster import cluster_events

    rng = np.random.default_rng(0)
    values = np.vstack([rng.normal(m, 0.05, (1000, 4)) for m in (0.1, 0.4, 0.7)])
    ids = np.repeat(["a", "b"], 1500)
    first, again = (cluster_events(values, ["A", "B", "C", "D"], ids, method="som", n_metaclusters=3,
                                   umap_events=2000, seed=5) for _ in range(2))
    assert first.obs["cluster"].tolist() == again.obs["cluster"].tolist()
    np.testing.assert_array_equal(first.obsm["X_umap"], again.obsm["X_umap"])
    # 2,000 of the 3,000 events are embedded (a seeded draw); the others have no coordinates.
    assert first.obs["in_umap"].sum() == 2000 and first.uns["discovery"]["umap_events"] == 2000
    assert np.isnan(first.obsm["X_umap"][~first.obs["in_umap"].to_numpy()]).all()
    # k = 3 on three planted groups: exactly the groups.
    truth = np.repeat([0, 1, 2], 1000)
    assert (pd.crosstab(first.obs["cluster"].to_numpy(), truth).to_numpy() > 0).sum() == 3
