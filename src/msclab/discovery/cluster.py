"""Cluster and embed pooled events: Leiden on a kNN graph or a self-organising map, then UMAP.

Markers are scaled to unit variance over the pooled events (each marker then
weighs the same in the Euclidean distance, as in cytometry clustering practice;
Weber & Robinson, Cytometry A 2016;89:1084-1096 compare methods on such
inputs). Two methods cluster them:

- ``leiden``: an exact kNN graph of every event on the scaled markers (no
  PCA: a cytometry panel has only a handful of dimensions) and its Leiden
  communities (Traag et al., Sci Rep 2019;9:5233);
- ``som``: a FlowSOM-style self-organising map and consensus metaclustering
  of its nodes (Van Gassen et al., Cytometry A 2015;87:636-645;
  :mod:`msclab.discovery.som`), linear in the events.

UMAP (McInnes et al. 2018, arXiv:1802.03426) embeds at most ``umap_events``
events (a seeded draw beyond that: UMAP's cost grows faster than the
clustering's). Every random step takes the seed, so the same input and seed
give the same clusters and embedding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


#: Clustering methods of :func:`cluster_events`.
METHODS = ("leiden", "som")


def cluster_events(values: np.ndarray, markers: list[str], sample_id: np.ndarray, *, method: str = "leiden",
                   n_neighbors: int = 15, resolution: float = 2.0, grid: int = 10, n_metaclusters: int = 30,
                   umap_events: int | None = 20_000, seed: int = 0):
    """Build the AnnData of pooled events, its clusters and UMAP.

    Parameters
    ----------
    values
        Events x markers (gating scale).
    markers
        Marker names (``var_names``).
    sample_id
        Sample of each event (``obs['sample_id']``).
    method
        ``"leiden"``: Leiden communities of the exact kNN graph of every event;
        ``"som"``: FlowSOM-style self-organising map and consensus
        metaclustering (:mod:`msclab.discovery.som`).
    n_neighbors
        Neighbours of the kNN graph (Leiden and UMAP).
    resolution
        Leiden resolution.
    grid
        Side of the square SOM grid (``grid x grid`` nodes; ``som`` only).
    n_metaclusters
        Metaclusters of the SOM nodes (``som`` only).
    umap_events
        At most this many events are embedded by UMAP: a seeded draw when
        there are more (the others get NaN coordinates and
        ``obs['in_umap']`` False); None embeds every event.
    seed
        Seed of the graph, Leiden, the SOM, the UMAP draw and UMAP.

    Returns
    -------
    anndata.AnnData
        ``X`` the gating-scale values, ``obs`` ``sample_id``, ``cluster``
        (categorical, ``"0"``, ``"1"``, ... by decreasing size) and
        ``in_umap``, ``obsm['X_umap']``, ``uns['discovery']`` the parameters
        (``som`` adds ``obs['som_node']`` and ``uns['som_codes']``, the node
        codes on the scaled markers, split nodes after the grid's; the record
        counts them as ``split_nodes``).

    Raises
    ------
    ValueError
        An unknown ``method``.
    """
    import anndata as ad

    if method not in METHODS:
        raise ValueError(f"unknown discovery method {method!r}; use one of {', '.join(METHODS)}")
    adata = ad.AnnData(X=np.asarray(values, dtype=np.float32),
                       obs=pd.DataFrame({"sample_id": pd.Categorical(sample_id)},
                                        index=[f"e{i}" for i in range(len(sample_id))]),
                       var=pd.DataFrame(index=list(markers)))
    sd = adata.X.std(axis=0)
    scaled = ((adata.X - adata.X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)).astype(np.float32)
    params = {"method": method, "n_neighbors": n_neighbors, "seed": seed, "scaling": "unit variance per marker"}
    embed = _umap_draw(adata.n_obs, umap_events, seed)
    if method == "leiden":
        graph = _leiden(scaled, n_neighbors, resolution, seed, umap=embed is None)
        labels, xy = graph.obs["leiden"], graph.obsm.get("X_umap")
        params["resolution"] = resolution
    else:
        from .som import som_metaclusters

        som = som_metaclusters(scaled, xdim=grid, ydim=grid, n_metaclusters=n_metaclusters, seed=seed)
        labels, xy = pd.Series(som.metacluster.astype(str)), None
        adata.obs["som_node"] = som.node
        adata.uns["som_codes"] = som.codes
        params |= {"grid": [grid, grid], "n_metaclusters": n_metaclusters,
                   "split_nodes": int(len(som.codes) - grid * grid)}
    if xy is None:
        rows = np.arange(adata.n_obs) if embed is None else embed
        xy = np.full((adata.n_obs, 2), np.nan, dtype=np.float32)
        xy[rows] = _umap(scaled[rows], n_neighbors, seed)
    adata.obs["cluster"] = _by_size(pd.Series(np.asarray(labels), dtype=str))
    adata.obs["in_umap"] = ~np.isnan(xy[:, 0])
    adata.obsm["X_umap"] = np.asarray(xy, dtype=np.float32)
    params["umap_events"] = int(adata.obs["in_umap"].sum())
    adata.uns["discovery"] = params
    return adata


def _umap_draw(n: int, umap_events: int | None, seed: int) -> np.ndarray | None:
    """Sorted seeded draw of ``umap_events`` of ``n`` events, or None when every event is embedded."""
    if umap_events is None or n <= umap_events:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, umap_events, replace=False))


def _leiden(scaled: np.ndarray, n_neighbors: int, resolution: float, seed: int, *, umap: bool):
    """Leiden communities (``obs['leiden']``) of the exact kNN graph of every event, and its UMAP if asked."""
    import anndata as ad
    import scanpy as sc

    graph = ad.AnnData(obsm={"X_scaled": scaled}, obs=pd.DataFrame(index=np.arange(len(scaled)).astype(str)))
    sc.pp.neighbors(graph, n_neighbors=n_neighbors, use_rep="X_scaled", transformer=_exact_knn(n_neighbors))
    sc.tl.leiden(graph, resolution=resolution, random_state=seed, flavor="igraph", n_iterations=2,
                 directed=False, key_added="leiden")
    if umap:
        sc.tl.umap(graph, random_state=seed)
    return graph


def _umap(scaled: np.ndarray, n_neighbors: int, seed: int) -> np.ndarray:
    """UMAP coordinates of the events, on their own exact kNN graph (as scanpy builds it for Leiden)."""
    import anndata as ad
    import scanpy as sc

    k = max(2, min(n_neighbors, len(scaled) - 1))
    sub = ad.AnnData(obsm={"X_scaled": scaled}, obs=pd.DataFrame(index=np.arange(len(scaled)).astype(str)))
    sc.pp.neighbors(sub, n_neighbors=k, use_rep="X_scaled", transformer=_exact_knn(k))
    sc.tl.umap(sub, random_state=seed)
    return sub.obsm["X_umap"]


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
    """Relabel clusters ``0..k-1`` by decreasing size (ties by label), so names do not depend on the method's order."""
    sizes = labels.value_counts(sort=False)
    order = sorted(sizes.index, key=lambda c: (-sizes[c], int(c)))
    rename = {old: str(new) for new, old in enumerate(order)}
    return pd.Categorical(labels.map(rename).astype(str), categories=[str(i) for i in range(len(order))])
