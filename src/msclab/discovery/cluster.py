"""Cluster and embed pooled events: scanpy kNN graph, Leiden communities, UMAP.

Markers are scaled to unit variance over the pooled events (each marker then
weighs the same in the Euclidean distance, as in cytometry clustering practice;
Weber & Robinson, Cytometry A 2016;89:1084-1096 compare methods on such
inputs), the kNN graph is built on the scaled markers directly (no PCA: a
cytometry panel has only a handful of dimensions), Leiden (Traag et al., Sci
Rep 2019;9:5233) finds communities on it and UMAP (McInnes et al. 2018,
arXiv:1802.03426) embeds it. Every random step takes the seed, so the same
input and seed give the same clusters and embedding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def cluster_events(values: np.ndarray, markers: list[str], sample_id: np.ndarray, *, n_neighbors: int = 15,
                   resolution: float = 2.0, seed: int = 0):
    """Build the AnnData of pooled events, its Leiden clusters and UMAP.

    Parameters
    ----------
    values
        Events x markers (gating scale).
    markers
        Marker names (``var_names``).
    sample_id
        Sample of each event (``obs['sample_id']``).
    n_neighbors
        Neighbours of the kNN graph.
    resolution
        Leiden resolution.
    seed
        Seed of the graph, Leiden and UMAP.

    Returns
    -------
    anndata.AnnData
        ``X`` the gating-scale values, ``obs`` ``sample_id`` and ``cluster``
        (categorical, ``"0"``, ``"1"``, ... by decreasing size),
        ``obsm['X_umap']``, ``uns['discovery']`` the parameters.
    """
    import anndata as ad
    import scanpy as sc

    adata = ad.AnnData(X=np.asarray(values, dtype=np.float32),
                       obs=pd.DataFrame({"sample_id": pd.Categorical(sample_id)},
                                        index=[f"e{i}" for i in range(len(sample_id))]),
                       var=pd.DataFrame(index=list(markers)))
    sd = adata.X.std(axis=0)
    scaled = (adata.X - adata.X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    adata.obsm["X_scaled"] = scaled.astype(np.float32)
    sc.pp.neighbors(adata, n_neighbors=n_neighbors, use_rep="X_scaled", transformer=_exact_knn(n_neighbors))
    sc.tl.leiden(adata, resolution=resolution, random_state=seed, flavor="igraph", n_iterations=2,
                 directed=False, key_added="leiden")
    sc.tl.umap(adata, random_state=seed)
    adata.obs["cluster"] = _by_size(adata.obs.pop("leiden"))
    del adata.obsm["X_scaled"]
    for key in list(adata.obsp.keys()):
        del adata.obsp[key]
    for key in ("neighbors", "umap", "leiden"):
        adata.uns.pop(key, None)
    adata.uns["discovery"] = {"method": "leiden", "n_neighbors": n_neighbors, "resolution": resolution,
                              "seed": seed, "scaling": "unit variance per marker"}
    return adata


def _exact_knn(n_neighbors: int):
    """An exact kNN transformer (k-d tree): exact and fast in a panel's few dimensions, no random step.

    Its graph is returned as a ``csr_matrix``, the sparse type scanpy's
    neighbour bookkeeping reads.
    """
    from scipy import sparse
    from sklearn.neighbors import KNeighborsTransformer

    class ExactKNN(KNeighborsTransformer):
        def fit_transform(self, X, y=None):  # noqa: N803 - scikit-learn's signature
            return sparse.csr_matrix(super().fit_transform(X))

    # scanpy counts the event itself among its neighbours; scikit-learn adds it on top of n_neighbors.
    return ExactKNN(n_neighbors=n_neighbors - 1, mode="distance", algorithm="kd_tree", n_jobs=1)


def _by_size(labels: pd.Series) -> pd.Categorical:
    """Relabel clusters ``0..k-1`` by decreasing size (ties by first label), so names do not depend on Leiden's order."""
    sizes = labels.value_counts(sort=False)
    order = sorted(sizes.index, key=lambda c: (-sizes[c], int(c)))
    rename = {old: str(new) for new, old in enumerate(order)}
    return pd.Categorical(labels.map(rename).astype(str), categories=[str(i) for i in range(len(order))])
