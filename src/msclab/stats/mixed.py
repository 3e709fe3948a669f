"""Linear mixed model of per-pair effects when replicates are nested in donors.

When a donor contributes several treated-vs-control pairs for a readout
(technical or culture replicates), the summary-measures analysis of
:mod:`msclab.stats.paired` averages them to one donor effect. Next to it, the
per-pair effects y_ij (pair j of donor i) are fitted with a random donor
intercept by REML (``statsmodels`` ``MixedLM``)::

    y_ij = mu + u_i + e_ij,   u_i ~ N(0, sigma_donor^2),   e_ij ~ N(0, sigma_residual^2)

and the fixed effect mu is reported with its generalised-least-squares
standard error at the REML variances, SE = (sum_i m_i / (sigma_residual^2 +
m_i sigma_donor^2))^(-1/2) for m_i pairs of donor i, and a Student-t interval
and test on n_donors - 1 degrees of freedom: the "between-group" degrees of
freedom of a fixed effect that is estimated at the donor level (Pinheiro JC, Bates DM.
Mixed-Effects Models in S and S-PLUS. Springer 2000, section 2.4.2). For a
balanced design with a positive donor variance this is exact, and equals the
Satterthwaite and Kenward-Roger degrees of freedom (Kenward MG, Roger JH.
Biometrics 1997;53:983-97): mu is then the grand mean and the interval equals
the paired-t interval of the donor means. With unbalanced replicates the model
weights donors by their precision. A fit that cannot be trusted (fewer than 2
donors, no variation within donors, no convergence, no finite standard error)
gives NaN and says why in ``mixed_note``; it never raises. The REML criterion
is maximised with Powell's derivative-free method: the gradient methods of
``MixedLM`` stall when the donor variance is near 0, a common outcome with
8 donors. An estimate at that boundary is kept (the model is then ordinary
least squares over pairs) and flagged in ``mixed_note``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLM

#: Columns the mixed model adds to the effects table, in order.
MIXED_COLUMNS = (
    "mixed_estimate",
    "mixed_ci_low",
    "mixed_ci_high",
    "mixed_p",
    "mixed_n_pairs",
    "mixed_sd_donor",
    "mixed_sd_residual",
    "mixed_note",
)

#: A donor variance below this fraction of the total variance is reported as a boundary fit.
_BOUNDARY = 1e-6


@dataclass(frozen=True)
class MixedFit:
    """Random-intercept fit of one readout x contrast; NaN fields when no fit was made."""

    estimate: float = np.nan
    ci_low: float = np.nan
    ci_high: float = np.nan
    p_value: float = np.nan
    n_pairs: float = np.nan
    sd_donor: float = np.nan
    sd_residual: float = np.nan
    note: str = ""

    def row(self) -> tuple[float | str, ...]:
        """The fields in the order of :data:`MIXED_COLUMNS`."""
        return (self.estimate, self.ci_low, self.ci_high, self.p_value, self.n_pairs,
                self.sd_donor, self.sd_residual, self.note)


def fit_random_intercept(effects: np.ndarray, donors: np.ndarray, confidence: float = 0.95) -> MixedFit:
    """Fit ``effect ~ 1 + (1 | donor)`` by REML to per-pair effects.

    Parameters
    ----------
    effects
        One effect per treated-vs-control pair (NaN pairs are ignored).
    donors
        The donor of every pair.
    confidence
        Level of the confidence interval.

    Returns
    -------
    MixedFit
        Estimate of the fixed intercept, its Student-t CI and two-sided p-value
        on n_donors - 1 degrees of freedom, the number of pairs, the donor and
        residual SDs and a note. All numbers are NaN (with the reason in
        ``note``) when the fit is degenerate or fails.
    """
    y = np.asarray(effects, dtype=float)
    keep = ~np.isnan(y)
    y, groups = y[keep], pd.factorize(np.asarray(donors)[keep])[0]
    n_donors = int(groups.max()) + 1 if y.size else 0
    if n_donors < 2:
        return MixedFit(note="mixed model not fitted: fewer than 2 donors")
    within = y - (np.bincount(groups, weights=y) / np.bincount(groups))[groups]
    if np.all(np.abs(within) <= 1e-12 * max(1.0, float(np.abs(y).max()))):
        return MixedFit(note="mixed model not fitted: replicates identical within every donor")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = MixedLM(y, np.ones((y.size, 1)), groups=groups).fit(reml=True, method="powell")
        except (ValueError, ArithmeticError) as err:  # LinAlgError is a ValueError
            return MixedFit(note=f"mixed model failed: {err}")
    mu = float(fit.fe_params[0])
    var_donor, var_res = float(np.asarray(fit.cov_re)[0, 0]), float(fit.scale)
    sizes = np.bincount(groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = float(np.sum(sizes / (var_res + sizes * var_donor)) ** -0.5)
    if not fit.converged or not (np.isfinite(mu) and np.isfinite(se) and se > 0):
        return MixedFit(note="mixed model failed: no convergence or no finite standard error")
    df = n_donors - 1
    half = stats.t.ppf(0.5 + confidence / 2, df) * se
    boundary = var_donor <= _BOUNDARY * (var_donor + var_res)
    return MixedFit(
        estimate=mu,
        ci_low=mu - half,
        ci_high=mu + half,
        p_value=float(2 * stats.t.sf(abs(mu / se), df)),
        n_pairs=float(y.size),
        sd_donor=0.0 if boundary else float(np.sqrt(var_donor)),
        sd_residual=float(np.sqrt(var_res)),
        note="donor variance estimated at 0 (boundary fit)" if boundary else "",
    )


def mixed_effects(paired: pd.DataFrame, readouts: list[str], confidence: float = 0.95) -> pd.DataFrame:
    """Return the mixed-model columns for every readout of one contrast.

    Parameters
    ----------
    paired
        Output of :func:`msclab.normalise.controls.paired_effects` (one row per
        treated sample x readout, with ``readout``, ``donor`` and ``effect``).
    readouts
        The readouts, in the order of the effects table.
    confidence
        Level of the confidence intervals.

    Returns
    -------
    DataFrame
        One row per readout (in ``readouts`` order) with :data:`MIXED_COLUMNS`.
        A readout where no donor has more than one pair with a defined effect
        gets NaN and an empty note: the summary-measures analysis is then the
        whole analysis.
    """
    groups = dict(tuple(paired[paired["effect"].notna()].groupby("readout", sort=False)))
    rows = []
    for name in readouts:
        pairs = groups.get(name)
        if pairs is None or not pairs["donor"].duplicated().any():
            rows.append(MixedFit().row())
        else:
            rows.append(fit_random_intercept(pairs["effect"].to_numpy(float), pairs["donor"].to_numpy(),
                                             confidence).row())
    return pd.DataFrame(rows, columns=list(MIXED_COLUMNS))
