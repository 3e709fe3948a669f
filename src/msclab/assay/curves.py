"""Four- and five-parameter logistic standard curves on log concentration.

The model (one form for 4PL and 5PL, 4PL being ``F = 1``) is::

    y = A + (B - A) / (1 + exp(-D * (ln x - c)))**F

with ``A`` the response at zero concentration, ``B`` the response at infinite
concentration, ``c = ln C`` the log of the concentration at the (4PL)
inflection, ``D > 0`` the slope and ``F > 0`` the asymmetry. A *rising* curve
(sandwich ELISA, bead arrays) has ``B > A``; a *falling* curve (competitive
ELISA, e.g. PGE2) has ``B < A``: the same formula covers both, so nothing
downstream needs to know the direction.

It is Luminex xPONENT's "Logistic 5P" ``y = A + (B - A) / (1 + (x / C)**D)**F``
with ``D_xponent = -D`` (see :meth:`CurveFit.from_xponent`), and R's ``SSfpl``
``A + (B - A) / (1 + exp((xmid - ln x) / scal))`` with ``xmid = c`` and
``scal = 1 / D``.

Fits are weighted least squares (weights ``none``, ``1/y`` or ``1/y^2`` of the
observed response), bounded, started from several data-driven starting
points, and never raise: a fit that cannot be made returns a
:class:`CurveFit` with ``ok=False`` and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import numpy as np
from scipy import optimize, stats
from scipy.special import expit

MODELS: tuple[str, ...] = ("4pl", "5pl")
WEIGHTINGS: tuple[str, ...] = ("none", "1/y", "1/y^2")
PARAM_NAMES: tuple[str, ...] = ("A", "B", "c", "D", "F")

#: Bounds of slope ``D`` and asymmetry ``F`` (wide enough for every kit curve
#: we have seen; narrow enough to keep the optimiser out of step functions).
SLOPE_BOUNDS = (0.05, 20.0)
ASYMMETRY_BOUNDS = (0.05, 20.0)

#: Starting points (of those ranked by their initial cost) that are optimised.
N_SCREENED = 3
#: Tolerance and evaluation budget of the screening runs.
SCREEN_TOL, SCREEN_NFEV = 1e-4, 40
#: Evaluation budget of the final (polishing) run.
POLISH_NFEV = 500

#: A curve must beat a flat line at this F-test p-value, else the fit fails
#: (random responses must not yield a "curve").
MAX_TREND_P = 0.01

#: Default floor of ``|y|`` in the weights, as a fraction of the standards'
#: response span, so a blank-level standard (Net MFI ~ 0) cannot take all
#: the weight.
WEIGHT_FLOOR_FRACTION = 1e-4


def logistic(log_x: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Evaluate the 5PL (4PL when ``F = 1``) at natural-log concentrations.

    Parameters
    ----------
    log_x
        Natural log of concentration.
    params
        ``(A, B, c, D, F)``.
    """
    a, b, c, d, f = params
    z = -d * (np.asarray(log_x, dtype=float) - c)
    return a + (b - a) * np.exp(-f * np.logaddexp(0.0, z))


def logistic_jacobian(log_x: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Partial derivatives of :func:`logistic` by ``(A, B, c, D, F)`` (n x 5)."""
    a, b, c, d, f = params
    t = np.asarray(log_x, dtype=float)
    z = -d * (t - c)
    soft = np.logaddexp(0.0, z)
    s = np.exp(-f * soft)
    ds_dz = -f * expit(z) * s
    return np.column_stack([
        1.0 - s,
        s,
        (b - a) * ds_dz * d,
        (b - a) * ds_dz * -(t - c),
        (b - a) * -soft * s,
    ])


def logistic_slope(log_x: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Derivative of :func:`logistic` by ``ln x``."""
    a, b, c, d, f = params
    z = -d * (np.asarray(log_x, dtype=float) - c)
    s = np.exp(-f * np.logaddexp(0.0, z))
    return (b - a) * f * expit(z) * s * d


def inverse_logistic(y: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Natural-log concentration giving response ``y``; NaN outside the asymptotes."""
    a, b, c, d, f = params
    frac = (np.asarray(y, dtype=float) - a) / (b - a)
    out = np.full(frac.shape, np.nan)
    inside = (frac > 0) & (frac < 1)
    # (1 + e)**(-F) = frac  ->  e = frac**(-1/F) - 1 ; ln e = -D (t - c)
    e = np.expm1(-np.log(frac[inside]) / f)
    with np.errstate(divide="ignore"):
        out[inside] = c - np.log(e) / d
    out[~np.isfinite(out)] = np.nan
    return out


def response_weights(y: np.ndarray, weighting: str, floor: float) -> np.ndarray:
    """Weights ``1``, ``1/|y|`` or ``1/y^2`` of responses ``y``.

    ``|y|`` is floored at ``floor`` (signal units) so responses at or below
    zero (background-subtracted blanks, Net MFI) keep a finite weight.
    """
    y = np.abs(np.asarray(y, dtype=float))
    if weighting == "none":
        return np.ones_like(y)
    power = 1.0 if weighting == "1/y" else 2.0
    return 1.0 / np.maximum(y, max(floor, np.finfo(float).tiny)) ** power


def default_weight_floor(response: np.ndarray) -> float:
    """:data:`WEIGHT_FLOOR_FRACTION` of the response span (at least tiny)."""
    span = float(np.ptp(response)) if np.size(response) else 0.0
    return max(WEIGHT_FLOOR_FRACTION * span, np.finfo(float).tiny)


@dataclass
class CurveFit:
    """A fitted (or failed) standard curve.

    Attributes
    ----------
    model, weighting
        What was fitted.
    theta
        ``(A, B, ln C, D, F)``: the coordinates the curve is fitted and
        inverted in (``c = ln C``, see the module docstring); NaN when the fit
        failed. For the parameters by name, in the units of ``curves.csv``
        (``C`` in concentration units), use :attr:`params`.
    ok
        False when no usable curve could be fitted; ``reason`` says why.
    reason
        Empty when ``ok``.
    covariance
        Covariance of the free parameters (4 x 4 for 4PL, 5 x 5 for 5PL),
        ``sigma^2 (J_w' J_w)^-1``.
    sigma
        Residual standard error of the weighted fit.
    dof
        Residual degrees of freedom (points minus free parameters).
    weight_floor
        Floor of ``|y|`` in the weights (signal units), kept to weight new responses.
    log_x_range
        Smallest and largest ln(concentration) of the points fitted.
    """

    model: str
    weighting: str
    theta: np.ndarray
    ok: bool
    reason: str = ""
    covariance: np.ndarray = field(default_factory=lambda: np.full((0, 0), np.nan))
    sigma: float = float("nan")
    dof: int = 0
    weight_floor: float = 1.0
    log_x_range: tuple[float, float] = (float("nan"), float("nan"))

    def __repr__(self) -> str:
        if not self.ok:
            return f"CurveFit({self.model}, {self.weighting}, failed: {self.reason})"
        params = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        return f"CurveFit({self.model}, {self.weighting}, {params}, sigma={self.sigma:.3g}, dof={self.dof})"

    @property
    def n_free(self) -> int:
        """Number of fitted parameters (4 or 5)."""
        return 5 if self.model == "5pl" else 4

    @property
    def rising(self) -> bool:
        """True when the response grows with concentration."""
        return bool(self.theta[1] > self.theta[0])

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Response at concentrations ``x``."""
        with np.errstate(divide="ignore"):
            return logistic(np.log(np.asarray(x, dtype=float)), self.theta)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """Concentration giving response ``y`` (NaN beyond the asymptotes)."""
        return np.exp(inverse_logistic(np.asarray(y, dtype=float), self.theta))

    def weights(self, y: np.ndarray) -> np.ndarray:
        """Weights of responses ``y`` under this fit's weighting."""
        return response_weights(y, self.weighting, self.weight_floor)

    @property
    def params(self) -> dict[str, float]:
        """Parameters by name, as ``curves.csv`` gives them: ``A, B, C, D, F`` with ``C`` in concentration units.

        ``C`` is the (4PL) inflection concentration, ``exp`` of the fitted
        ``c = ln C`` (:attr:`theta`); one unit in the notebook and in the files.
        """
        a, b, c, d, f = (float(v) for v in self.theta)
        return {"A": a, "B": b, "C": float(np.exp(c)), "D": d, "F": f}

    def to_dict(self) -> dict[str, float]:
        """The same as :attr:`params` (parameters by name, ``C`` in concentration units)."""
        return self.params

    @classmethod
    def from_xponent(cls, a: float, b: float, c: float, d: float, f: float) -> CurveFit:
        """Build a curve from xPONENT "Logistic 5P" coefficients A, B, C, D, F."""
        return cls(model="5pl", weighting="none", theta=np.array([a, b, np.log(c), -d, f]), ok=True)


def _failed(model: str, weighting: str, reason: str, log_x: np.ndarray | None = None) -> CurveFit:
    rng = (float(np.min(log_x)), float(np.max(log_x))) if log_x is not None and log_x.size else (np.nan, np.nan)
    return CurveFit(model, weighting, np.full(5, np.nan), ok=False, reason=reason, log_x_range=rng)


def starting_values(log_x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Data-driven starting points ``(A, B, c, D, F=1)`` for the optimiser.

    Asymptotes from the responses at the lowest and highest concentration
    (pushed slightly beyond them), ``c`` where the level means cross half-way,
    and the slope from a straight line through the logit of the scaled
    responses; a few alternative slopes and mid-points guard against a bad
    first guess.
    """
    levels = np.unique(log_x)
    means = np.array([np.mean(y[log_x == v]) for v in levels])
    lo, hi = means[0], means[-1]
    span = max(abs(hi - lo), np.ptp(y), 1e-12)
    direction = 1.0 if hi >= lo else -1.0
    a0 = lo - direction * 0.05 * span
    b0 = hi + direction * 0.05 * span
    frac = np.clip((means - a0) / (b0 - a0), 1e-3, 1 - 1e-3)
    logit = np.log(frac / (1 - frac))
    slope = np.polyfit(levels, logit, 1)[0] if levels.size >= 2 else 1.0
    d0 = float(np.clip(slope, *SLOPE_BOUNDS)) if np.isfinite(slope) and slope > 0 else 1.0
    c0 = float(np.interp(0.0, logit, levels)) if np.all(np.diff(logit) > 0) else float(np.median(levels))
    starts = [np.array([a0, b0, c0, d0, 1.0])]
    for d_alt in (0.5 * d0, 2.0 * d0):
        starts.append(np.array([a0, b0, c0, float(np.clip(d_alt, *SLOPE_BOUNDS)), 1.0]))
    for c_alt in (levels[len(levels) // 4], levels[(3 * len(levels)) // 4]):
        starts.append(np.array([a0, b0, float(c_alt), d0, 1.0]))
    return starts


def _bounds(log_x: np.ndarray, y: np.ndarray, model: str) -> tuple[np.ndarray, np.ndarray]:
    span = max(np.ptp(y), 1e-12)
    ylo, yhi = np.min(y) - 2.0 * span, np.max(y) + 2.0 * span
    xlo, xhi = np.min(log_x) - 5.0, np.max(log_x) + 5.0
    lower = [ylo, ylo, xlo, SLOPE_BOUNDS[0], ASYMMETRY_BOUNDS[0]]
    upper = [yhi, yhi, xhi, SLOPE_BOUNDS[1], ASYMMETRY_BOUNDS[1]]
    if model == "4pl":
        lower, upper = lower[:4], upper[:4]
    return np.array(lower), np.array(upper)


def fit_curve(
    concentration: np.ndarray,
    response: np.ndarray,
    model: str = "5pl",
    weighting: str = "1/y^2",
    *,
    weight_floor: float | None = None,
    tol: float = 1e-10,
) -> CurveFit:
    """Fit a 4PL or 5PL to standards, on log concentration; never raises.

    Parameters
    ----------
    concentration
        Nominal concentrations of the standards (> 0; others are ignored).
    response
        Their signals (NaN are ignored).
    model
        ``"4pl"`` or ``"5pl"``.
    weighting
        ``"none"``, ``"1/y"`` or ``"1/y^2"`` (of the observed response).
    weight_floor
        Floor of ``|y|`` in the weights, in signal units; default
        :func:`default_weight_floor`. (1 MFI unit reproduces Luminex xPONENT's
        1/y^2 fits on Net MFI.)
    tol
        Tolerance passed to :func:`scipy.optimize.least_squares`.

    Returns
    -------
    CurveFit
        ``ok=False`` with a reason when there are too few usable points, the
        responses carry no trend, or the optimiser cannot produce a finite
        curve.
    """
    if model not in MODELS:
        return _failed(model, weighting, f"unknown model {model!r} (use {', '.join(MODELS)})")
    if weighting not in WEIGHTINGS:
        return _failed(model, weighting, f"unknown weighting {weighting!r} (use {', '.join(WEIGHTINGS)})")
    x = np.asarray(concentration, dtype=float)
    y = np.asarray(response, dtype=float)
    use = np.isfinite(x) & np.isfinite(y) & (x > 0)
    log_x, y = np.log(x[use]), y[use]
    n_free = 5 if model == "5pl" else 4
    n_levels = np.unique(log_x).size
    if n_levels < n_free or y.size <= n_free:
        return _failed(model, weighting, f"{n_levels} usable standard levels, {y.size} points: a {model} needs more than {n_free}", log_x)
    span = float(np.ptp(y))
    if not span > 0:
        return _failed(model, weighting, "standards have no signal range", log_x)

    floor = default_weight_floor(y) if weight_floor is None else float(weight_floor)
    w = np.sqrt(response_weights(y, weighting, floor))
    lower, upper = _bounds(log_x, y, model)

    def full(p: np.ndarray) -> np.ndarray:
        return p if n_free == 5 else np.append(p, 1.0)

    def residuals(p: np.ndarray) -> np.ndarray:
        return w * (logistic(log_x, full(p)) - y)

    def jacobian(p: np.ndarray) -> np.ndarray:
        return w[:, None] * logistic_jacobian(log_x, full(p))[:, :n_free]

    def solve(p0: np.ndarray, xtol: float, max_nfev: int) -> optimize.OptimizeResult:
        return optimize.least_squares(
            residuals, p0, jac=jacobian, bounds=(lower, upper), method="trf",
            xtol=xtol, ftol=xtol, gtol=xtol, max_nfev=max_nfev,
        )

    # The most promising starting points are screened with a loose tolerance; the best is polished.
    best, last_error = None, "no finite solution"
    with np.errstate(all="ignore"):
        starts = [np.clip(s[:n_free], lower + 1e-9 * (upper - lower), upper - 1e-9 * (upper - lower))
                  for s in starting_values(log_x, y)]
        initial = [float(np.sum(residuals(p0) ** 2)) for p0 in starts]
        order = np.argsort(np.where(np.isfinite(initial), initial, np.inf))
        for p0 in (starts[k] for k in order[:N_SCREENED]):
            try:
                res = solve(p0, SCREEN_TOL, SCREEN_NFEV)
            except (ValueError, np.linalg.LinAlgError) as exc:
                last_error = str(exc)
                continue
            if np.all(np.isfinite(res.x)) and np.isfinite(res.cost) and (best is None or res.cost < best.cost):
                best = res
        if best is not None:
            try:
                polished = solve(best.x, tol, POLISH_NFEV)
            except (ValueError, np.linalg.LinAlgError):
                polished = best
            if np.all(np.isfinite(polished.x)) and polished.cost <= best.cost:
                best = polished
    if best is None:
        return _failed(model, weighting, f"optimiser failed from every starting point ({last_error})", log_x)

    params = full(best.x)
    dof = y.size - n_free
    sigma = float(np.sqrt(2.0 * best.cost / dof))
    jw = best.jac
    try:
        covariance = sigma**2 * np.linalg.pinv(jw.T @ jw)
    except np.linalg.LinAlgError:
        covariance = np.full((n_free, n_free), np.nan)
    fit = CurveFit(
        model, weighting, params, ok=True, covariance=covariance, sigma=sigma, dof=dof,
        weight_floor=floor, log_x_range=(float(log_x.min()), float(log_x.max())),
    )
    if not np.all(np.isfinite(logistic(log_x, params))):
        return _failed(model, weighting, "fitted curve is not finite", log_x)
    p_trend = _trend_p_value(y, w**2, 2.0 * best.cost, n_free)
    if not p_trend < MAX_TREND_P:
        return _failed(model, weighting, f"no dose-response: the curve fits no better than a flat line (F-test p={p_trend:.2g})", log_x)
    return fit


def _trend_p_value(y: np.ndarray, w: np.ndarray, ssr: float, n_free: int) -> float:
    """F-test of the curve against a constant (weighted mean) response."""
    mean = np.sum(w * y) / np.sum(w)
    ssr0 = float(np.sum(w * (y - mean) ** 2))
    dof = y.size - n_free
    if ssr <= 0:
        return 0.0 if ssr0 > 0 else 1.0
    f_stat = ((ssr0 - ssr) / (n_free - 1)) / (ssr / dof)
    return float(stats.f.sf(f_stat, n_free - 1, dof))
