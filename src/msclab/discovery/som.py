"""FlowSOM-style clustering: a batch self-organising map, then consensus metaclustering of its nodes.

The method of FlowSOM (Van Gassen et al., *Cytometry A* 2015;87:636-645),
written here in numpy:

1. **Self-organising map** (Kohonen, *Biol Cybern* 1982;43:59-69) of
   ``xdim x ydim`` nodes on a rectangular grid, trained with the *batch*
   algorithm (Kohonen, *Neural Netw* 2013;37:52-65): each epoch
   assigns every event to its best-matching node and moves each node to the
   mean of the events of the nodes around it, weighted by a Gaussian of their
   grid distance, whose width shrinks from half the grid to ``sigma_end``.
   Each epoch is a few matrix products over chunks of events, so time is
   linear in the events and memory is one chunk's distances, whatever the
   number of samples. The first epochs, which only order the map, see a
   seeded draw of at most :data:`SUBSAMPLE` events; the last
   :data:`FULL_EPOCHS` see every event. The nodes start on the plane of the
   events' first two principal components (linear initialisation, Kohonen
   2013), so the map is the same for the same events and seed.
2. **Consensus metaclustering** (Monti et al., *Mach Learn* 2003;52:91-118, as
   FlowSOM uses it through ConsensusClusterPlus, Wilkerson & Hayes,
   *Bioinformatics* 2010;26:1572-1573): the nodes are resampled (90% without
   replacement) ``n_resamples`` times, each resample is cut into ``k``
   clusters by average-linkage hierarchical clustering of the node codes, and
   the fraction of resamples in which two nodes fall together is their
   consensus; the final ``k`` metaclusters cut the average-linkage tree of
   ``1 - consensus``. Nodes no event maps to are left out and join the
   metacluster of their nearest occupied node.

Between the two, nodes that hold two separate populations are split in two
(:func:`split_nodes`). A map of 100 nodes spends most of them on the large
populations, so a rare one can share a node with its closest neighbour; on a
simulated Th panel the 103 IL-17A+ IFN-γ+ events shared one node with the 325
IL-17A+ IFN-γ- events, which no metaclustering can undo (docs/discovery.md).

Every event takes its node's metacluster. Events are expected on comparable
scales (:func:`msclab.discovery.cluster.cluster_events` passes markers scaled
to unit variance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Events per chunk of the distance computations (chunk x nodes float32 distances: 26 MB for 100 nodes).
CHUNK = 65536
#: Node splitting (:func:`split_nodes`): the least Ashman's D of the two parts, the least events of the
#: smaller part, and the most events of a node the mixture is fitted on (a seeded draw beyond).
SPLIT_D = 3.0
SPLIT_MIN_EVENTS = 50
SPLIT_FIT_EVENTS = 2000
#: Events drawn for the ordering epochs of :func:`train_som`, and the epochs that see every event.
SUBSAMPLE = 131072
FULL_EPOCHS = 3


@dataclass
class SomResult:
    """A trained map and its metaclusters.

    Attributes
    ----------
    codes
        Node codes (nodes x markers), node ``i < xdim * ydim`` at grid cell
        ``(i // ydim, i % ydim)``; the nodes after those are the parts split
        off them (:func:`split_nodes`).
    split_from
        The grid node each node comes from (``i`` for a grid node).
    node
        Best-matching node of each event.
    node_metacluster
        Metacluster of each node (``0..k-1``).
    metacluster
        Metacluster of each event.
    """

    codes: np.ndarray
    split_from: np.ndarray
    node: np.ndarray
    node_metacluster: np.ndarray
    metacluster: np.ndarray


def som_metaclusters(x: np.ndarray, *, xdim: int = 10, ydim: int = 10, n_metaclusters: int = 30,
                     epochs: int = 10, sigma_end: float = 0.1, n_resamples: int = 100,
                     seed: int = 0) -> SomResult:
    """Train the map on the events, metacluster its nodes and label every event.

    Parameters
    ----------
    x
        Events x markers (scaled).
    xdim, ydim
        Grid size.
    n_metaclusters
        Metaclusters ``k`` (at most the number of nodes).
    epochs
        Batch epochs.
    sigma_end
        Neighbourhood width (in grid cells) of the last epoch.
    n_resamples
        Resamples of the consensus.
    seed
        Seed of the map's training draw and of the consensus resampling.

    Returns
    -------
    SomResult
    """
    codes = train_som(x, xdim=xdim, ydim=ydim, epochs=epochs, sigma_end=sigma_end, seed=seed)
    node = map_to_nodes(x, codes)
    codes, split_from, node = split_nodes(x, codes, node, seed=seed)
    # Nodes no event maps to lie between populations; left in, one could take a metacluster of its own
    # and leave two populations merged. They are metaclustered with their nearest occupied node instead.
    occupied = np.flatnonzero(np.bincount(node, minlength=len(codes)) > 0)
    meta = consensus_metaclusters(codes[occupied], min(n_metaclusters, len(occupied)), n_resamples=n_resamples,
                                  seed=seed)
    nearest = occupied[map_to_nodes(codes, codes[occupied])] if len(occupied) < len(codes) else occupied
    node_meta = np.empty(len(codes), dtype=np.int64)
    node_meta[occupied] = meta
    node_meta = node_meta[nearest]
    return SomResult(codes, split_from, node, node_meta, node_meta[node])


def grid_positions(xdim: int, ydim: int) -> np.ndarray:
    """Grid coordinates of the nodes (nodes x 2), node ``i`` at ``(i // ydim, i % ydim)``."""
    return np.stack(np.divmod(np.arange(xdim * ydim), ydim), axis=1).astype(np.float64)


def train_som(x: np.ndarray, *, xdim: int = 10, ydim: int = 10, epochs: int = 10, sigma_end: float = 0.1,
              seed: int = 0) -> np.ndarray:
    """Batch-train a ``xdim x ydim`` self-organising map on the events.

    Parameters
    ----------
    x
        Events x markers.
    xdim, ydim
        Grid size.
    epochs
        Passes over the events; the neighbourhood width falls geometrically
        from ``max(xdim, ydim) / 2`` to ``sigma_end``.
    sigma_end
        Width of the last epoch. At the default 0.1 a grid neighbour weighs
        exp(-50): each node is the mean of its own events (a k-means step),
        so nodes are not pulled between populations. A width of 0.5 (weight
        0.14) left half of a planted 0.5% population in nodes it shared with
        its neighbours (benchmarks/bench_discovery.py, docs/performance.md).
    seed
        Seed of the draw of at most :data:`SUBSAMPLE` events the first epochs
        train on (the last :data:`FULL_EPOCHS` use every event) and of the
        initialisation's random component (used only when the events have
        fewer than two varying directions).

    Returns
    -------
    numpy.ndarray
        Codes, nodes x markers (float64).
    """
    x = np.asarray(x, dtype=np.float32)
    grid = grid_positions(xdim, ydim)
    codes = _linear_init(x, grid, seed)
    grid_d2 = ((grid[:, None, :] - grid[None, :, :]) ** 2).sum(axis=2)
    sigma_start = max(max(xdim, ydim) / 2.0, sigma_end)
    # The wide-neighbourhood epochs only order the map: a seeded draw of the events is enough for them;
    # the last FULL_EPOCHS see every event.
    draw = x
    if len(x) > SUBSAMPLE:
        draw = x[np.sort(np.random.default_rng(seed).choice(len(x), SUBSAMPLE, replace=False))]
    sigmas = np.geomspace(sigma_start, sigma_end, max(epochs, 1))
    for epoch, sigma in enumerate(sigmas):
        counts, sums = _node_sums(x if epoch >= len(sigmas) - FULL_EPOCHS else draw, codes)
        h = np.exp(-grid_d2 / (2.0 * sigma**2))
        weight = h @ counts
        moved = weight > 0
        codes[moved] = (h @ sums)[moved] / weight[moved, None]
    return codes


def map_to_nodes(x: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Best-matching node of every event (Euclidean), computed in chunks.

    Parameters
    ----------
    x
        Events x markers.
    codes
        Nodes x markers.

    Returns
    -------
    numpy.ndarray
        Node index per event (int32).
    """
    x = np.asarray(x, dtype=np.float32)
    out = np.empty(len(x), dtype=np.int32)
    c32 = codes.astype(np.float32)
    half_norm = 0.5 * (c32**2).sum(axis=1)
    for start in range(0, len(x), CHUNK):
        # argmin |x - c|^2 = argmin (|c|^2 / 2 - x.c): one matrix product per chunk.
        scores = x[start:start + CHUNK] @ c32.T
        np.subtract(half_norm, scores, out=scores)
        out[start:start + CHUNK] = scores.argmin(axis=1)
    return out


def split_nodes(x: np.ndarray, codes: np.ndarray, node: np.ndarray, *, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split every node whose events form two separate populations (X-means-style refinement).

    For each node with at least ``2 * SPLIT_MIN_EVENTS`` events, Gaussian
    mixtures of one and two components (full covariance) are fitted to its
    events (a seeded draw of at most :data:`SPLIT_FIT_EVENTS`). The node is
    split when both

    - the Bayesian information criterion prefers two components, the test
      X-means uses to split a centroid (Pelleg & Moore, *ICML* 2000:727-734),
      and
    - the two components are separate: Ashman's D (Ashman, Bird & Zepf,
      *Astron J* 1994;108:2348-2361) along the line through their means is at
      least :data:`SPLIT_D`. Two Gaussians need D > 2 for a bimodal mixture;
      a mixture fitted to one population cut by the map's Voronoi cells sits
      at D about 2 (measured over the 99 single-population nodes of a
      simulated Th panel: median 2.0, largest 2.4), hence the margin,

    and the smaller part has at least :data:`SPLIT_MIN_EVENTS` events. Each
    event of a split node goes to its more likely component; the node keeps
    the first part (its code becomes the part's mean) and the second becomes
    a new node appended after the others.

    Parameters
    ----------
    x
        Events x markers (scaled).
    codes
        Node codes (nodes x markers).
    node
        Best-matching node of each event.
    seed
        Seed of the draws and of the mixtures' initialisation.

    Returns
    -------
    codes
        The codes, with one row appended per split (float64).
    split_from
        The original node of each node.
    node
        The node of each event after the splits.
    """
    from sklearn.mixture import GaussianMixture
    from .._parallel import one_thread

    codes = np.array(codes, dtype=np.float64)
    node = np.array(node)
    order = np.argsort(node, kind="stable")
    bounds = np.searchsorted(node[order], np.arange(len(codes) + 1))
    rng = np.random.default_rng(seed)
    added, origin = [], []
    # One BLAS/OpenMP thread: these fits are small, and threads waiting on each other made them 30 times
    # slower on a busy 2-core machine (k-means start of a 2,000 x 10 fit: 0.97 s against 0.03 s).
    with one_thread():
        for i in range(len(codes)):
            members = order[bounds[i]:bounds[i + 1]]
            if members.size < 2 * SPLIT_MIN_EVENTS:
                continue
            fit = members if members.size <= SPLIT_FIT_EVENTS else np.sort(rng.choice(members, SPLIT_FIT_EVENTS,
                                                                                      replace=False))
            drawn = x[fit]
            one = GaussianMixture(1, covariance_type="full", random_state=seed).fit(drawn)
            two = GaussianMixture(2, covariance_type="full", n_init=2, random_state=seed).fit(drawn)
            if two.bic(drawn) >= one.bic(drawn) or _ashman_d(two) < SPLIT_D:
                continue
            part = two.predict(x[members])
            if np.bincount(part, minlength=2).min() < SPLIT_MIN_EVENTS:
                continue
            second = members[part == 1]
            codes[i] = x[members[part == 0]].mean(axis=0, dtype=np.float64)
            node[second] = len(codes) + len(added)
            added.append(x[second].mean(axis=0, dtype=np.float64))
            origin.append(i)
    split_from = np.concatenate([np.arange(len(codes)), np.asarray(origin, dtype=np.int64)])
    if added:
        codes = np.vstack([codes, np.asarray(added)])
    return codes, split_from, node.astype(np.int32)


def _ashman_d(mixture) -> float:
    """Ashman's D of a two-component mixture along the line through its means."""
    axis = mixture.means_[1] - mixture.means_[0]
    gap = float(np.linalg.norm(axis))
    if gap == 0:
        return 0.0
    axis /= gap
    var = np.array([axis @ cov @ axis for cov in mixture.covariances_])
    return float(np.sqrt(2.0) * gap / np.sqrt(var.sum()))


def consensus_metaclusters(codes: np.ndarray, k: int, *, n_resamples: int = 100, fraction: float = 0.9,
                           seed: int = 0) -> np.ndarray:
    """Consensus hierarchical clustering of the node codes into ``k`` metaclusters.

    Parameters
    ----------
    codes
        Nodes x markers.
    k
        Metaclusters.
    n_resamples
        Resamples of the nodes.
    fraction
        Fraction of the nodes in each resample.
    seed
        Seed of the resampling.

    Returns
    -------
    numpy.ndarray
        Metacluster ``0..k-1`` of each node, numbered by first node (int).
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    n = len(codes)
    if k >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    together = np.zeros((n, n))
    sampled = np.zeros((n, n))
    size = max(k, int(round(fraction * n)))
    for _ in range(n_resamples):
        pick = np.sort(rng.choice(n, size, replace=False))
        labels = fcluster(linkage(codes[pick], method="average"), k, criterion="maxclust")
        together[np.ix_(pick, pick)] += labels[:, None] == labels[None, :]
        sampled[np.ix_(pick, pick)] += 1
    consensus = np.divide(together, sampled, out=np.zeros_like(together), where=sampled > 0)
    distance = 1.0 - consensus
    np.fill_diagonal(distance, 0.0)
    labels = fcluster(linkage(squareform(distance, checks=False), method="average"), k, criterion="maxclust")
    # Number metaclusters by their first node so labels do not depend on scipy's numbering.
    unique, first = np.unique(labels, return_index=True)
    rank = np.argsort(np.argsort(first))
    return rank[np.searchsorted(unique, labels)]


def _node_sums(x: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Events per best-matching node and the sum of their values (float64)."""
    n_nodes, n_dims = codes.shape
    counts = np.zeros(n_nodes)
    sums = np.zeros((n_nodes, n_dims))
    c32 = codes.astype(np.float32)
    half_norm = 0.5 * (c32**2).sum(axis=1)
    for start in range(0, len(x), CHUNK):
        chunk = x[start:start + CHUNK]
        scores = chunk @ c32.T
        np.subtract(half_norm, scores, out=scores)
        node = scores.argmin(axis=1)
        counts += np.bincount(node, minlength=n_nodes)
        for j in range(n_dims):
            sums[:, j] += np.bincount(node, weights=chunk[:, j], minlength=n_nodes)
    return counts, sums


def _linear_init(x: np.ndarray, grid: np.ndarray, seed: int) -> np.ndarray:
    """Codes spread over the plane of the first two principal components (+-2 SD), centred on the mean."""
    mean = x.mean(axis=0, dtype=np.float64)
    cov = np.cov(x, rowvar=False, dtype=np.float64) if len(x) > 1 else np.zeros((x.shape[1], x.shape[1]))
    cov = np.atleast_2d(cov)
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1][:2]
    spread = np.sqrt(np.clip(values[order], 0, None))
    axes = vectors[:, order] * spread
    if axes.shape[1] < 2 or not np.all(spread > 0):
        # Degenerate events (one varying direction or none): a small seeded random plane.
        rng = np.random.default_rng(seed)
        axes = np.column_stack([axes[:, :1], rng.normal(0, 1e-3, len(mean))])[:, :2]
    span = grid.max(axis=0)
    unit = np.where(span > 0, grid / np.where(span > 0, span, 1), 0.5) * 4.0 - 2.0
    return mean + unit @ axes.T
