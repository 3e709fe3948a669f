"""Two-dimensional Gaussian mixtures with full covariances, fitted by EM in closed form.

:class:`GaussianMixture` runs the expectation-maximisation of
:class:`sklearn.mixture.GaussianMixture` with ``covariance_type="full"`` and
``n_init=1``: the same k-means++ or k-means start drawn from
``RandomState(random_state)``, the same E and M steps, covariance
regularisation, stopping rule (``|change of the mean log-likelihood| < tol``)
and iteration limit, and the same fitted attributes. With two dimensions,
every 2 x 2 Cholesky factor, inverse and determinant is written out, and the
events are held as two contiguous columns, so a step is a few vector
operations per component instead of small matrix products and reductions
along rows; a cluster gate (about ten fits of a few thousand events) takes a
third of the time. The parameters equal scikit-learn's to rounding
(``tests/flow/protocols/test_mixture.py`` checks them against it).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus  # imported here, so forked workers inherit the module

_EPS = 10 * np.finfo(np.float64).eps
_LOG_2PI = math.log(2 * math.pi)


def _upper_factor(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``P`` (upper triangular, components x 2 x 2) with ``P P^T = inverse([[a, b], [b, c]])``.

    ``P = L^{-T}`` for the lower Cholesky factor ``L`` of the covariance,
    as scikit-learn's ``precisions_cholesky_``.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        l11 = np.sqrt(a)
        l21 = b / l11
        l22 = np.sqrt(c - l21 * l21)
    if not (np.all(l11 > 0) and np.all(l22 > 0)):
        raise ValueError("Fitting the mixture model failed because some components have ill-defined empirical "
                         "covariance (for instance caused by singleton or collapsed samples).")
    out = np.zeros((len(a), 2, 2))
    out[:, 0, 0] = 1.0 / l11
    out[:, 0, 1] = -l21 / (l11 * l22)
    out[:, 1, 1] = 1.0 / l22
    return out


def _factor_of_precision(precisions: np.ndarray) -> np.ndarray:
    """``P`` (upper triangular) with ``P P^T = precision``, for each precision matrix."""
    p, q, r = precisions[:, 0, 0], precisions[:, 0, 1], precisions[:, 1, 1]
    p11 = np.sqrt(r)
    p01 = q / p11
    out = np.zeros((len(p), 2, 2))
    out[:, 0, 0] = np.sqrt(p - p01 * p01)
    out[:, 0, 1] = p01
    out[:, 1, 1] = p11
    return out


class GaussianMixture:
    """A two-dimensional Gaussian mixture with full covariances: scikit-learn's parameters and attributes.

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

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_
        The fitted parameters (``precisions_cholesky_``: upper-triangular
        ``P`` with ``P P^T`` the precision).
    converged_, n_iter_, lower_bound_
        Whether EM stopped by ``tol``, after how many steps, and the last mean log-likelihood.
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
        """Fit the mixture to ``X`` (events x 2); returns itself."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(f"the mixture is fitted to two dimensions, not an array of shape {X.shape}")
        if len(X) < self.n_components:
            raise ValueError(f"Expected n_samples >= n_components but got n_components = {self.n_components}, "
                             f"n_samples = {len(X)}")
        x, y = np.ascontiguousarray(X[:, 0]), np.ascontiguousarray(X[:, 1])
        self._start(X, x, y)
        lower_bound = -np.inf
        self.converged_ = False
        for n_iter in range(1, self.max_iter + 1):
            previous = lower_bound
            log_prob_norm, resp = self._e_step(x, y)
            self._m_step(x, y, resp)
            lower_bound = log_prob_norm
            if abs(lower_bound - previous) < self.tol:
                self.converged_ = True
                break
        self.n_iter_ = n_iter
        self.lower_bound_ = lower_bound
        self.precisions_ = self.precisions_cholesky_ @ self.precisions_cholesky_.transpose(0, 2, 1)
        return self

    def _start(self, X: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
        if self.weights_init is not None and self.means_init is not None and self.precisions_init is not None:
            self.weights_ = np.array(self.weights_init, dtype=np.float64)
            self.means_ = np.array(self.means_init, dtype=np.float64)
            self.precisions_cholesky_ = _factor_of_precision(np.asarray(self.precisions_init, dtype=np.float64))
            return
        random_state = np.random.RandomState(self.random_state)
        resp = np.zeros((self.n_components, len(X)))
        if self.init_params == "k-means++":
            _, indices = kmeans_plusplus(X, self.n_components, random_state=random_state)
            resp[np.arange(self.n_components), indices] = 1
        else:
            labels = KMeans(n_clusters=self.n_components, n_init=1, random_state=random_state).fit(X).labels_
            resp[labels, np.arange(len(X))] = 1
        nk = self._estimate(x, y, resp)
        if self.weights_init is None:
            self.weights_ = nk / len(X)
        else:
            self.weights_ = np.array(self.weights_init, dtype=np.float64)
        if self.means_init is not None:
            self.means_ = np.array(self.means_init, dtype=np.float64)
        if self.precisions_init is not None:
            self.precisions_cholesky_ = _factor_of_precision(np.asarray(self.precisions_init, dtype=np.float64))

    def _estimate(self, x: np.ndarray, y: np.ndarray, resp: np.ndarray) -> np.ndarray:
        """M step from responsibilities (components x events): sets means, covariances, factors; returns nk."""
        nk = resp.sum(axis=1) + _EPS
        mx, my = (resp @ x) / nk, (resp @ y) / nk
        cov = np.empty((len(nk), 2, 2))
        dx, dy = x - mx[:, None], y - my[:, None]
        wx, wy = resp * dx, resp * dy
        for k in range(len(nk)):  # one dot product per sum, as one component at a time
            cov[k, 0, 0] = wx[k] @ dx[k] / nk[k] + self.reg_covar
            cov[k, 0, 1] = cov[k, 1, 0] = wx[k] @ dy[k] / nk[k]
            cov[k, 1, 1] = wy[k] @ dy[k] / nk[k] + self.reg_covar
        self.means_ = np.column_stack([mx, my])
        self.covariances_ = cov
        self.precisions_cholesky_ = _upper_factor(cov[:, 0, 0], cov[:, 0, 1], cov[:, 1, 1])
        return nk

    def _weighted_log_prob(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``log(weight) + log N(event | component)``, components x events."""
        chol = self.precisions_cholesky_
        log_det = np.log(chol[:, 0, 0]) + np.log(chol[:, 1, 1])
        constant = -_LOG_2PI + log_det + np.log(self.weights_)
        # every component at once (components x events); each value is computed as one component at a time would
        dx, dy = x - self.means_[:, :1], y - self.means_[:, 1:]
        u = dx * chol[:, 0, :1]
        v = dx * chol[:, 0, 1:] + dy * chol[:, 1, 1:]
        return constant[:, None] - 0.5 * (u * u + v * v)

    @staticmethod
    def _log_sum(weighted: np.ndarray) -> np.ndarray:
        top = weighted.max(axis=0)
        return top + np.log(np.exp(weighted - top).sum(axis=0))

    def _e_step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        weighted = self._weighted_log_prob(x, y)
        log_prob_norm = self._log_sum(weighted)
        with np.errstate(under="ignore"):
            resp = np.exp(weighted - log_prob_norm)
        return float(np.mean(log_prob_norm)), resp

    def _m_step(self, x: np.ndarray, y: np.ndarray, resp: np.ndarray) -> None:
        nk = self._estimate(x, y, resp)
        self.weights_ = nk / nk.sum()

    # -- evaluation ----------------------------------------------------------------------------
    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """Log-likelihood of each event."""
        X = np.asarray(X, dtype=np.float64)
        return self._log_sum(self._weighted_log_prob(np.ascontiguousarray(X[:, 0]), np.ascontiguousarray(X[:, 1])))

    def bic(self, X: np.ndarray) -> float:
        """Bayesian information criterion on ``X`` (lower is better; Schwarz, Ann Stat 1978;6:461)."""
        n_parameters = 6 * self.n_components - 1  # 3 covariance, 2 mean and 1 weight each; weights sum to 1
        return -2 * float(np.mean(self.score_samples(X))) * len(X) + n_parameters * math.log(len(X))
