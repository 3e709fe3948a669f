"""Discovery on simulated studies: annotated clusters against the gates, planted effects, null calibration.

The simulator (:mod:`msclab.simulate`) plants known population fractions and
MSC effects; the gated fractions of the same files are the independent
reference for the annotated clusters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from msclab.discovery import OUTPUTS, discover_panel, discovery_hook, discovery_warnings
from msclab.discovery.abundance import ABUNDANCE_COLUMNS, DIFFERENTIAL_COLUMNS
from msclab.experiment import read_experiment
from msclab.experiment.model import Discovery
from msclab.flow.panel import quantify_panel
from msclab.flow.protocols.loader import load_protocol
from msclab.flow.result import PanelResult
from msclab.provenance import Provenance
from msclab.simulate.study import StudyDesign, simulate_study


def _gated_vs_discovered(panel_result: PanelResult, result, name: str) -> tuple[pd.Series, pd.Series]:
    """Per sample: the gated fraction of ``name`` among T cells and the annotated clusters' fraction."""
    pops = panel_result.populations
    t_cells = pops[pops["name"] == "T cells"].set_index("sample_id")["count"]
    gated = pops[pops["name"] == name].set_index("sample_id")["count"] / t_cells
    named = result.abundance.merge(result.clusters[["cluster", "annotation"]], on="cluster")
    found = named[named["annotation"] == name].groupby("sample_id")["fraction"].sum()
    common = gated.index.intersection(found.index)
    return gated[common], found[common]


def _log_r(a: pd.Series, b: pd.Series) -> float:
    ok = (a > 0) & (b > 0)
    return float(np.corrcoef(np.log(a[ok]), np.log(b[ok]))[0, 1])


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    simulate_study(root, StudyDesign(donors=3, events=6000, seed=11))
    return read_experiment(root / "experiment.yaml")


@pytest.mark.slow
@pytest.mark.parametrize("panel, populations", [("th_ics", ["Th1", "Th17", "Tc1"]), ("treg", ["Treg"])])
def test_annotated_fractions_follow_the_gates(small_study, panel, populations, tmp_path):
    gated = quantify_panel(small_study, panel)
    # Every parent event is drawn (files of 6,000 events), so clusters and gates see the same events.
    result = discover_panel(small_study, gated, Discovery(method="leiden"), seed=0, out=tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == set(OUTPUTS.values())
    assert tuple(pd.read_csv(tmp_path / "abundance.csv").columns) == ABUNDANCE_COLUMNS
    assert tuple(pd.read_csv(tmp_path / "differential.csv").columns) == DIFFERENTIAL_COLUMNS
    assert result.events.obsm["X_umap"].shape == (result.events.n_obs, 2)
    for name in populations:
        a, b = _gated_vs_discovered(gated, result, name)
        assert len(a) >= 10, name
        print(f"{panel} {name}: log-scale r = {_log_r(a, b):.3f} over {len(a)} samples")
        # Th17 is ~0.5% of T cells (a few dozen events per sample): its counting noise caps r lower.
        assert _log_r(a, b) >= (0.85 if name == "Th17" else 0.95), (name, _log_r(a, b))


def test_a_failing_discovery_is_recorded_not_raised(small_study, tmp_path):
    spec = small_study.spec.panels["th_ics"].model_copy(update={"discovery": Discovery(markers=["CD4", "Ki-67"])})
    small_study.spec.panels["th_ics"] = spec
    prov = Provenance("analyze")
    try:
        step = discovery_hook(small_study, prov, every_panel=False, seed=0, out=tmp_path)
        empty = pd.DataFrame()
        step(PanelResult("th_ics", load_protocol("th_ics"), empty, empty, empty, {}, {}))
        step(PanelResult("treg", load_protocol("treg"), empty, empty, empty, {}, {}))
    finally:
        small_study.spec.panels["th_ics"] = spec.model_copy(update={"discovery": None})
    assert prov.steps["discovery"]["th_ics"]["status"] == "failed"
    assert "treg" not in prov.steps["discovery"]
    assert "Ki-67" in discovery_warnings(prov.steps)[0]
    assert discovery_hook(small_study, prov, every_panel=False, seed=0, out=tmp_path) is None


def _differential(tmp_path, design: StudyDesign, panel: str) -> pd.DataFrame:
    simulate_study(tmp_path, design)
    exp = read_experiment(tmp_path / "experiment.yaml")
    result = discover_panel(exp, quantify_panel(exp, panel), Discovery(events_per_sample=3000), seed=design.seed)
    return result.differential


@pytest.mark.slow
def test_planted_effects_are_found_at_1_to_10(tmp_path):
    """Planted Th1 and Th17 decreases (msc_catalogue.md §4 defaults) at 1:10 with 8 donors: q < 0.05, down."""
    table = _differential(tmp_path, StudyDesign(donors=8, events=6000, seed=3), "th_ics")
    rows = table[(table["contrast"] == "msc_1to10") & table["annotation"].isin(["Th1", "Th17"])]
    assert set(rows["annotation"]) == {"Th1", "Th17"}
    for name, group in rows.groupby("annotation"):
        best = group.sort_values("q_value").iloc[0]
        assert best["q_value"] < 0.05 and best["log2_ratio"] < 0, (name, best.to_dict())


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_null_studies_give_few_discoveries(tmp_path, seed):
    """Null studies (no MSC effect): at most 5% of clusters with q < 0.05 (issue 17 asks 10 seeds; 3 here)."""
    table = _differential(tmp_path, StudyDesign(donors=6, events=5000, seed=100 + seed, null=True), "th_ics")
    assert (table["q_value"] < 0.05).mean() <= 0.05, table.sort_values("q_value").head()


@pytest.mark.slow
def test_analyze_with_discovery_writes_every_panel_and_the_report_section(small_study, tmp_path):
    from msclab.pipeline import analyze
    from msclab.settings import Settings

    result = analyze(small_study.path, tmp_path, Settings(discovery=True, plots=False, n_boot=100))
    for panel in ("th_ics", "treg"):
        assert result.provenance.steps["discovery"][panel]["status"] == "ok"
        assert {p.name for p in (tmp_path / "discovery" / panel).iterdir()} == set(OUTPUTS.values())
    assert 'id="discovery"' in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert not discovery_warnings(result.provenance.steps)


@pytest.mark.slow
def test_clusters_and_umap_are_reproducible_for_a_seed():
    from msclab.discovery.cluster import cluster_events

    rng = np.random.default_rng(0)
    values = np.vstack([rng.normal(m, 0.05, (1000, 4)) for m in (0.1, 0.4, 0.7)])
    ids = np.repeat(["a", "b"], 1500)
    first, again = (cluster_events(values, ["A", "B", "C", "D"], ids, seed=5) for _ in range(2))
    assert first.obs["cluster"].tolist() == again.obs["cluster"].tolist()
    np.testing.assert_array_equal(first.obsm["X_umap"], again.obsm["X_umap"])
    # The three planted groups are never mixed within a cluster.
    truth = np.repeat([0, 1, 2], 1000)
    assert pd.crosstab(first.obs["cluster"].to_numpy(), truth).gt(0).sum(axis=1).eq(1).all()
