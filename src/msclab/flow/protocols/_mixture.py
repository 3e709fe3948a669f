"""Full-covariance Gaussian mixtures fitted by EM, the computation of scikit-learn's, without its overhead.

:class:`GaussianMixture` runs the same expectation-maximisation as
:class:`sklearn.mixture.GaussianMixture` with ``covariance_type="full"`` and
``n_init=1`` (the same k-means++ or k-means start from a
``RandomState(seed)``, the same E and M steps, regularisation, stopping rule
``|change of the mean log-likelihood| < tol`` and iteration limit), in the
same order of floating-point operations, so the fitted parameters are the
same numbers (``tests/flow/protocols/test_mixture.py`` checks them against
scikit-learn's). It skips what costs the cluster gates most of their time on
a few thousand two-dimensional events: input validation, array-API dispatch
and the final E step for labels, repeated for each of the ~10 fits per gate.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg

_EPS = 10 * np.finfo(np.float64).eps


def _logsumexp(a: np.ndarray) -> np.ndarray:
    """``log(sum(exp(a), axis=1))``, computed as scikit-learn's ``_logsumexp`` computes it."""
    a_max = np.max(a, axis=1, keepdims=True)
    index_max = a == a_max
    a = a.copy()
    a[index_max] = -np.inf
    m = np.sum(index_max.astype(a.dtype), axis=1, keepdims=True, dtype=a.dtype)
    shift = np.where(np.isfinite(a_max), a_max, 0)
    s = np.sum(np.exp(a - shift), axis=1, keepdims=True, dtype=a.dtype)
    s = np.where(s == 0, s, s / m)
    return np.squeeze(np.log1p(s) + np.log(m) + a_max, axis=1)


def _precision_cholesky(covariances: np.ndarray) -> np.ndarray:
    out = np.empty_like(covariances)
    eye = np.eye(covariances.shape[1], dtype=covariances.dtype)
    for k, cov in enumerate(covariances):
        try:
            chol = linalg.cholesky(cov, lower=True)
        except np.linalg.LinAlgError as exc:
            raise ValueError("Fitting the mixture model failed because some components have ill-defined "
                             "empirical covariance (for instance caused by singleton or collapsed samples).") from exc
        out[k] = linalg.solve_triangular(chol, eye, lower=True).T
    return out


class GaussianMixture:
    """A Gaussian mixture with full covariances fitted by EM: scikit-learn's parameters and attributes.

    Parameters
    ----------
    n_components
        Number of components.
    covariance_type
        Only ``"full"``.
    reg_covar
        Added to the diagonal of every covariance.
    tol, max_iter
        EM stops when the mean log-likelihood changes by less than ``tol``, or after ``max_iter`` steps.
    random_state
        Seed of the ``RandomState`` the start draws from.
    init_params
        ``"k-means++"`` (one event per component, :func:`sklearn.cluster.kmeans_plusplus`) or
        ``"kmeans"`` (the labels of one k-means run); ignored when all three ``*_init`` are given.
    weights_init, means_init, precisions_init
        Starting parameters (each replaces what the start estimates).
    """

    def __init__(self, n_components: int = 1, *, covariance_type: str = "full", reg_covar: float = 1e-6,
                 tol: float = 1e-3, max_iter: int = 100, random_state: int = 0, init_params: str = "kmeans",
                 weights_init: np.ndarray | None = None, means_init: np.ndarray | None = None,
                 precisions_init: np.ndarray | None = None) -> None:
        if covariance_type != "full":
            raise ValueError(f"only full covariances are fitted, not {covariance_type!r}")
        if init_params not in ("kmeans", "k-means++"):
            raise ValueError(f"init_params must be 'kmeans' or 'k-means++', not {init_params!r}")
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, X: np.ndarray) -> GaussianMixture:
        """Fit the mixture to ``X`` (events x features); returns itself."""
        X = np.asarray(X)
        if len(X) < self.n_components:
            raise ValueError(f"Expected n_samples >= n_components but got n_components = {self.n_components}, "
                             f"n_samples = {len(X)}")
        self._start(X, np.random.RandomState(self.random_state))
        lower_bound = -np.inf
        self.converged_ = False
        for n_iter in range(1, self.max_iter + 1):
            previous = lower_bound
            log_prob_norm, log_resp = self._e_step(X)
            self._m_step(X, log_resp)
            lower_bound = log_prob_norm
            if abs(lower_bound - previous) < self.tol:
                self.converged_ = True
                break
        self.n_iter_ = n_iter
        self.lower_bound_ = lower_bound
        self.precisions_ = np.empty_like(self.precisions_cholesky_)
        for k, chol in enumerate(self.precisions_cholesky_):
            self.precisions_[k] = chol @ chol.T
        return self

    def _start(self, X: np.ndarray, random_state: np.random.RandomState) -> None:
        if self.weights_init is not None and self.means_init is not None and self.precisions_init is not None:
            self.weights_ = np.asarray(self.weights_init, dtype=X.dtype)
            self.means_ = np.asarray(self.means_init, dtype=X.dtype)
            flip = np.asarray(self.precisions_init, dtype=X.dtype)[:, ::-1, ::-1]
            self.precisions_cholesky_ = np.stack([linalg.cholesky(p, lower=True)[::-1, ::-1] for p in flip])
            return
        resp = np.zeros((len(X), self.n_components), dtype=X.dtype)
        if self.init_params == "k-means++":
            from sklearn.cluster import kmeans_plusplus

            _, indices = kmeans_plusplus(X, self.n_components, random_state=random_state)
            resp[indices, np.arange(self.n_components)] = 1
        else:
            from sklearn.cluster import KMeans

            labels = KMeans(n_clusters=self.n_components, n_init=1, random_state=random_state).fit(X).labels_
            resp[np.arange(len(X)), labels] = 1
        weights, means, covariances = self._estimate(X, resp)
        self.weights_ = weights / len(X) if self.weights_init is None else np.asarray(self.weights_init)
        self.means_ = means if self.means_init is None else np.asarray(self.means_init)
        if self.precisions_init is None:
            self.covariances_ = covariances
            self.precisions_cholesky_ = _precision_cholesky(covariances)
        else:
            flip = np.asarray(self.precisions_init, dtype=X.dtype)[:, ::-1, ::-1]
            self.precisions_cholesky_ = np.stack([linalg.cholesky(p, lower=True)[::-1, ::-1] for p in flip])

    def _estimate(self, X: np.ndarray, resp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nk = np.sum(resp, axis=0) + _EPS
        means = (resp.T @ X) / nk[:, np.newaxis]
        n_features = X.shape[1]
        covariances = np.empty((len(means), n_features, n_features), dtype=X.dtype)
        for k in range(len(means)):
            diff = X - means[k, :]
            covariances[k] = ((resp[:, k] * diff.T) @ diff) / nk[k]
            covariances[k].flat[::n_features + 1] += self.reg_covar
        return nk, means, covariances

    def _e_step(self, X: np.ndarray) -> tuple[float, np.ndarray]:
        weighted = self._weighted_log_prob(X)
        log_prob_norm = _logsumexp(weighted)
        with np.errstate(under="ignore"):
            log_resp = weighted - log_prob_norm[:, np.newaxis]
        return np.mean(log_prob_norm), log_resp

    def _m_step(self, X: np.ndarray, log_resp: np.ndarray) -> None:
        self.weights_, self.means_, self.covariances_ = self._estimate(X, np.exp(log_resp))
        self.weights_ /= np.sum(self.weights_)
        self.precisions_cholesky_ = _precision_cholesky(self.covariances_)

    # -- evaluation ----------------------------------------------------------------------------
    def _weighted_log_prob(self, X: np.ndarray) -> np.ndarray:
        n_components, n_features = self.means_.shape
        chol = self.precisions_cholesky_
        log_det = np.sum(np.log(chol.reshape(n_components, -1)[:, ::n_features + 1]), axis=1)
        log_prob = np.empty((len(X), n_components), dtype=X.dtype)
        for k in range(n_components):
            y = (X @ chol[k]) - (self.means_[k] @ chol[k])
            log_prob[:, k] = np.sum(np.square(y), axis=1)
        return -0.5 * (n_features * math.log(2 * math.pi) + log_prob) + log_det + np.log(self.weights_)

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """Log-likelihood of each event."""
        return _logsumexp(self._weighted_log_prob(X))

    def bic(self, X: np.ndarray) -> float:
        """Bayesian information criterion on ``X`` (lower is better; Schwarz 1978)."""
        n_components, n_features = self.means_.shape
        n_parameters = int(n_components * n_features * (n_features + 1) / 2.0 + n_features * n_components
                           + n_components - 1)
        return -2 * float(np.mean(self.score_samples(X))) * X.shape[0] + n_parameters * math.log(X.shape[0])
