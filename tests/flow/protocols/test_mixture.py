"""The cluster gates' closed-form EM gives scikit-learn's GaussianMixture numbers (to rounding), and the
closed-form component densities equal scipy's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.mixture import GaussianMixture as Reference

from msclab.flow.protocols._mixture import GaussianMixture
from msclab.flow.protocols.resolvers import _pdf

RNG = np.random.default_rng(7)
#: Three correlated populations (60/30/10%), standardised as cluster_gate standardises its events.
Z = np.vstack([RNG.multivariate_normal([0, 0], [[1, 0.4], [0.4, 0.5]], 1800),
               RNG.multivariate_normal([3, 2], [[0.3, -0.1], [-0.1, 0.5]], 900),
               RNG.multivariate_normal([-2, 3], [[0.1, 0], [0, 0.1]], 300)])
Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)


def _same(ours: GaussianMixture, theirs: Reference) -> None:
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-9, atol=1e-12, err_msg=name)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.bic(Z) == pytest.approx(theirs.bic(Z), rel=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_kmeans_plus_plus_start_matches_scikit_learn(k: int) -> None:
    kwargs = dict(n_components=k, covariance_type="full", random_state=0, init_params="k-means++", reg_covar=1e-5)
    _same(GaussianMixture(**kwargs).fit(Z), Reference(**kwargs).fit(Z))


def test_seeded_means_and_warm_start_match_scikit_learn() -> None:
    means = np.array([[0.0, 0.0], [1.0, 1.0], [-1.0, 1.5]])
    kwargs = dict(n_components=3, covariance_type="full", random_state=0, reg_covar=1e-5, means_init=means)
    theirs = Reference(**kwargs).fit(Z)
    _same(GaussianMixture(**kwargs).fit(Z), theirs)
    sample = Z[RNG.integers(0, len(Z), len(Z))]
    warm = dict(n_components=3, covariance_type="full", random_state=0, reg_covar=1e-5, weights_init=theirs.weights_,
                means_init=theirs.means_, precisions_init=theirs.precisions_)
    ours, ref = GaussianMixture(**warm).fit(sample), Reference(**warm).fit(sample)
    np.testing.assert_allclose(ours.means_, ref.means_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.covariances_, ref.covariances_, rtol=1e-9, atol=1e-12)
    assert ours.n_iter_ == ref.n_iter_


def test_component_densities_equal_scipy() -> None:
    gmm = GaussianMixture(3, random_state=0, init_params="k-means++", reg_covar=1e-5).fit(Z)
    expected = np.column_stack([w * stats.multivariate_normal(m, c).pdf(Z)
                                for w, m, c in zip(gmm.weights_, gmm.means_, gmm.covariances_)])
    np.testing.assert_allclose(_pdf(gmm, Z), expected, rtol=1e-10, atol=0)


def test_only_full_covariances_in_two_dimensions() -> None:
    with pytest.raises(ValueError, match="full"):
        GaussianMixture(2, covariance_type="diag")
    with pytest.raises(ValueError, match="two dimensions"):
        GaussianMixture(2).fit(np.zeros((10, 3)))


def test_collapsed_component_is_refused_as_scikit_learn_refuses_it() -> None:
    with pytest.raises(ValueError, match="ill-defined"):
        GaussianMixture(1, reg_covar=0.0).fit(np.ones((20, 2)))
