"""The FlowSOM-style method (msclab.discovery.som) on planted Gaussian blobs with known labels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from msclab.discovery.som import consensus_metaclusters, map_to_nodes, som_metaclusters, split_nodes, train_som

#: Planted blob sizes: a 100-fold range, down to 0.5% of the events (rare populations must get their own label).
SIZES = (20000, 8000, 4000, 2000, 1000, 500, 300, 200)


def _blobs(seed: int, dims: int = 8, spread: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """Events from ``len(SIZES)`` Gaussian blobs whose centres are at least 6 SD apart, and their labels."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((0, dims))
    while len(centres) < len(SIZES):
        c = rng.uniform(-4, 4, dims)
        if all(np.linalg.norm(c - other) > 6 * spread * np.sqrt(dims) / 2 for other in centres):
            centres = np.vstack([centres, c])
    x = np.vstack([rng.normal(c, spread, (n, dims)) for c, n in zip(centres, SIZES, strict=True)])
    return x.astype(np.float32), np.repeat(np.arange(len(SIZES)), SIZES)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_blobs_are_recovered(seed):
    x, truth = _blobs(seed)
    result = som_metaclusters(x, n_metaclusters=len(SIZES), seed=seed)
    assert adjusted_rand_score(truth, result.metacluster) >= 0.99
    # Every planted blob, the rarest included, is the majority of one metacluster of its own.
    majority = {int(np.bincount(truth[result.metacluster == m]).argmax()) for m in np.unique(result.metacluster)}
    assert majority == set(range(len(SIZES)))


def test_overclustering_never_mixes_blobs():
    x, truth = _blobs(3)
    result = som_metaclusters(x, n_metaclusters=30, seed=0)
    assert len(np.unique(result.metacluster)) == 30
    # Each metacluster is (nearly) pure: at most 0.1% of its events from another blob.
    for m in np.unique(result.metacluster):
        counts = np.bincount(truth[result.metacluster == m])
        assert counts.max() >= 0.999 * counts.sum()


def test_same_seed_same_result_other_seed_same_partition():
    x, truth = _blobs(4)
    first, again = (som_metaclusters(x, n_metaclusters=len(SIZES), seed=7) for _ in range(2))
    np.testing.assert_array_equal(first.codes, again.codes)
    np.testing.assert_array_equal(first.metacluster, again.metacluster)
    other = som_metaclusters(x, n_metaclusters=len(SIZES), seed=8)
    assert adjusted_rand_score(first.metacluster, other.metacluster) >= 0.99


def test_large_inputs_train_on_a_seeded_draw_then_every_event(monkeypatch):
    """Beyond SUBSAMPLE events the ordering epochs use a seeded draw: still reproducible and accurate."""
    from msclab.discovery import som

    monkeypatch.setattr(som, "SUBSAMPLE", 5000)
    x, truth = _blobs(5)
    first, again = (som.som_metaclusters(x, n_metaclusters=len(SIZES), seed=3) for _ in range(2))
    np.testing.assert_array_equal(first.metacluster, again.metacluster)
    assert adjusted_rand_score(truth, first.metacluster) >= 0.99


def test_map_to_nodes_is_the_nearest_code(monkeypatch):
    from msclab.discovery import som

    monkeypatch.setattr(som, "CHUNK", 97)  # several chunks, the last one partial
    rng = np.random.default_rng(0)
    x, codes = rng.normal(size=(1000, 5)), rng.normal(size=(36, 5))
    brute = ((x[:, None, :] - codes[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    np.testing.assert_array_equal(som.map_to_nodes(x, codes), brute)


def test_the_map_is_ordered_on_a_line():
    """A 1 x 10 map trained on a uniform segment keeps its nodes in order along it (topology preservation)."""
    x = np.random.default_rng(0).uniform(0, 1, (20000, 1)).astype(np.float32)
    codes = train_som(x, xdim=1, ydim=10, epochs=10).ravel()
    steps = np.diff(codes)
    assert np.all(steps > 0) or np.all(steps < 0)
    # Batch SOM with a narrow final neighbourhood ends close to k-means: nodes near the decile midpoints.
    np.testing.assert_allclose(np.sort(codes), np.arange(0.05, 1, 0.1), atol=0.03)


def test_consensus_groups_separated_codes_and_numbers_by_first_node():
    rng = np.random.default_rng(0)
    centres = np.array([[10.0, 0], [0, 0], [0, 10]])
    group = np.array([1, 0, 2, 1, 0, 2, 2, 1, 0, 0, 1, 2])
    codes = centres[group] + rng.normal(0, 0.1, (len(group), 2))
    labels = consensus_metaclusters(codes, 3, n_resamples=20)
    # Same partition as the planted groups, metacluster 0 the one of node 0, 1 the next new one...
    expected = np.array([{1: 0, 0: 1, 2: 2}[g] for g in group])
    np.testing.assert_array_equal(labels, expected)


def test_empty_nodes_do_not_take_a_metacluster():
    """Two tight blobs on a 10 x 10 map leave nodes between them empty; k=2 must still give the two blobs."""
    rng = np.random.default_rng(1)
    x = np.vstack([rng.normal(0, 0.05, (3000, 3)), rng.normal(5, 0.05, (300, 3))]).astype(np.float32)
    result = som_metaclusters(x, n_metaclusters=2, seed=0)
    assert np.bincount(result.metacluster).tolist() == [3000, 300]
    assert set(result.node_metacluster) == {0, 1}
    np.testing.assert_array_equal(map_to_nodes(x, result.codes), result.node)


def test_a_node_holding_two_populations_is_split_and_one_population_is_not():
    """A rare population 6 SD off a common one in one marker, both in one node: split exactly; a lone blob is kept."""
    rng = np.random.default_rng(5)
    common, rare = rng.normal(0, 1, (2000, 6)), rng.normal(0, 1, (100, 6))
    rare[:, 2] += 6.0
    x = np.vstack([common, rare]).astype(np.float32)
    codes, split_from, node = split_nodes(x, np.zeros((2, 6)), np.zeros(len(x), dtype=np.int32), seed=0)
    assert codes.shape == (3, 6) and split_from.tolist() == [0, 1, 0]
    assert sorted(np.bincount(node).tolist()) == [0, 100, 2000]
    assert len(set(node[:2000])) == 1 and len(set(node[2000:])) == 1 and node[0] != node[-1]
    np.testing.assert_allclose(codes[node[-1]], x[2000:].mean(axis=0), atol=1e-5)
    for seed in range(3):
        blob = rng.normal(0, 1, (5000, 6)).astype(np.float32)
        kept = split_nodes(blob, np.zeros((1, 6)), np.zeros(5000, dtype=np.int32), seed=seed)
        assert kept[0].shape == (1, 6) and not kept[2].any()


def test_an_unknown_method_is_refused_before_any_work():
    from pydantic import ValidationError

    from msclab.discovery.cluster import cluster_events
    from msclab.experiment.model import Discovery

    assert Discovery().method == "som"
    with pytest.raises(ValidationError, match="som"):
        Discovery(method="kmeans")
    with pytest.raises(ValueError, match="leiden, som"):
        cluster_events(np.zeros((10, 2)), ["A", "B"], np.zeros(10), method="kmeans")
