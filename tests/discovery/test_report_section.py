"""The report's discovery section reads the files discovery wrote (no clustering: fast)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from msclab.discovery.abundance import abundance_table, differential_abundance, population_differential
from msclab.experiment.contrasts import Contrast
from msclab.report.discovery import discovery_sections


def test_section_has_umap_heatmap_forest_and_failures(tmp_path):
    rng = np.random.default_rng(0)
    ids = np.repeat(["D1_pbmc", "D1_msc", "D2_pbmc", "D2_msc", "D3_pbmc", "D3_msc"], 200)
    cluster = rng.choice(["0", "1", "2"], ids.size)
    events = ad.AnnData(rng.normal(size=(ids.size, 2)).astype(np.float32),
                        obs=pd.DataFrame({"sample_id": ids, "cluster": cluster,
                                          "annotation": pd.Series(cluster).map({"0": "CD4 T", "1": "CD8 T",
                                                                                "2": "Treg"}).to_numpy()},
                                         index=[f"e{i}" for i in range(ids.size)]))
    events.obsm["X_umap"] = rng.normal(size=(ids.size, 2))
    events.obsm["X_umap"][::2] = np.nan  # outside the UMAP draw
    events.write_h5ad(tmp_path / "events.h5ad")
    clusters = pd.DataFrame({"cluster": ["0", "1", "2"], "n_events": [400, 400, 400],
                             "annotation": ["CD4 T", "CD8 T", "Treg"], "median:CD4": [0.6, 0.1, 0.6],
                             "median:CD8": [0.1, 0.6, 0.1]})
    clusters.to_csv(tmp_path / "clusters.csv", index=False)
    samples = pd.DataFrame({"sample_id": sorted(set(ids))}).set_index("sample_id", drop=False)
    samples["donor"] = samples.index.str[:2]
    samples["condition"] = np.where(samples.index.str.endswith("msc"), "PBMC+MSC", "PBMC")
    samples["msc_ratio"] = np.where(samples.index.str.endswith("msc"), "1:10", "")
    contrast = Contrast(name="msc", treatment={"condition": "PBMC+MSC"}, control={"condition": "PBMC"}, match_on=[])
    differential = differential_abundance(abundance_table(ids, cluster), samples, [contrast],
                                          dict(zip(clusters["cluster"], clusters["annotation"], strict=True)))
    differential.to_csv(tmp_path / "differential.csv", index=False)
    population_differential(abundance_table(ids, cluster), clusters.assign(catalogue_id=["", "", "treg_frequency"]),
                            samples, [contrast]).to_csv(tmp_path / "populations.csv", index=False)
    outputs = {k: str(tmp_path / f) for k, f in (("events", "events.h5ad"), ("clusters", "clusters.csv"),
                                                 ("differential", "differential.csv"),
                                                 ("populations", "populations.csv"))}
    steps = {"discovery": {"treg": {"status": "ok", "parent": "T cells", "n_events": ids.size, "n_clusters": 3,
                                    "markers": ["CD4", "CD8"], "outputs": outputs, "method": "som",
                                    "grid": [10, 10], "n_metaclusters": 30, "umap_events": ids.size // 2},
                           "th_ics": {"status": "failed", "reason": "no events"}}}
    sections = discovery_sections(steps, samples)
    ok, failed = sections
    assert ok["panel"] == "treg" and set(ok["figures"]) == {"umap", "heatmap", "forest"}
    assert all(png[:4] == b"\x89PNG" for png in ok["figures"].values())
    assert ok["record"]["method"] == "som" and ok["record"]["umap_events"] == ids.size // 2
    assert len(ok["differential"]) == 3 and ok["differential"]["n_donors"].eq(3).all()
    assert failed["status"] == "failed" and failed["figures"] == {}
    assert ok["populations"].set_index("annotation").loc["Treg", "catalogue_id"] == "treg_frequency"
    assert failed["populations"] is None
