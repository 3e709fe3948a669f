"""Dose-response trend of an effect across MSC:PBMC ratios, within donor.

Two complementary tests per readout, both using the donor as the block:

- **Within-donor linear trend on log ratio** (summary-measures approach,
  Matthews JNS, Altman DG, Campbell MJ, Royston P. Analysis of serial
  measurements in medical research. BMJ 1990;300:230-235): for every donor the
  least-squares slope of the effect (vs matched control) on log2 of the MSC
  fraction is computed, and the donor slopes are tested against 0 with a
  one-sample t-test. This equals the fixed slope of a linear mixed model with
  a random intercept and slope per donor when designs are balanced, and needs
  no model fitting. The slope reads "change in effect per doubling of MSCs".
- **Page's L test for ordered alternatives** (Page EB. Ordered hypotheses for
  multiple treatments: a significance test for linear ranks. J Am Stat Assoc
  1963;58:216-230; :func:`scipy.stats.page_trend_test`): a rank test that the
  effect is monotone in dose, robust to non-linearity, on donors measured at
  every ratio. It is one-sided by construction; msclab reports the two-sided
  p-value ``min(1, 2 * min(p_increasing, p_decreasing))``.
"""

from __future__ import annotations

import re

import anndata as ad
import numpy as np
import pandas as pd
from scipy import stats

from ..errors import MsclabError
from ..normalise.censoring import CensoringRule, apply_censoring
from ..normalise import controls
from ..experiment.contrasts import Contrast
from .fdr import bh_qvalues
from .paired import t_stats

_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")


def msc_fraction(ratio: str) -> float:
    """Return MSC per responder cell for an ``"MSC:PBMC"`` ratio text (``"1:10"`` -> 0.1).

    Raises
    ------
    MsclabError
        When the text is not of the form ``a:b`` with positive numbers.
    """
    match = _RATIO.match(str(ratio))
    if not match or float(match.group(2)) == 0 or float(match.group(1)) == 0:
        raise MsclabError(f"MSC:PBMC ratio {ratio!r} is not of the form '1:10'")
    return float(match.group(1)) / float(match.group(2))


def _page(table: pd.DataFrame) -> tuple[float, float, int]:
    complete = table.dropna()
    if complete.shape[1] < 3 or complete.shape[0] < 2:
        return np.nan, np.nan, int(complete.shape[0])
    k = complete.shape[1]
    up = stats.page_trend_test(complete.to_numpy(), predicted_ranks=np.arange(1, k + 1))
    down = stats.page_trend_test(complete.to_numpy(), predicted_ranks=np.arange(k, 0, -1))
    return float(up.statistic), float(min(1.0, 2 * min(up.pvalue, down.pvalue))), int(complete.shape[0])


def _donor_slopes(table: pd.DataFrame, x: np.ndarray) -> np.ndarray:
    slopes = []
    for _, row in table.iterrows():
        y = row.to_numpy(float)
        ok = np.isfinite(y)
        if ok.sum() >= 2 and np.ptp(x[ok]) > 0:
            slopes.append(np.polyfit(x[ok], y[ok], 1)[0])
    return np.asarray(slopes)


def dose_trend(
    readouts: ad.AnnData,
    contrast: Contrast,
    *,
    ratio_column: str = "msc_ratio",
    censoring: CensoringRule | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Test whether each readout's effect changes monotonically with the MSC dose.

    Parameters
    ----------
    readouts
        The sample x readout AnnData.
    contrast
        Treated samples at every ratio (the treatment selector must not fix
        ``ratio_column``) against their matched control.
    ratio_column
        obs column with the ``"MSC:PBMC"`` ratio text.
    censoring
        Rule for ``<LLOQ`` / ``>ULOQ`` values.
    confidence
        Level of the slope's confidence interval.

    Returns
    -------
    DataFrame
        One row per readout: ``readout, contrast, scale, levels, n_donors, slope,
        slope_ci_low, slope_ci_high, p_slope, q_slope, page_L, p_page,
        page_n_donors``.
    """
    if ratio_column in contrast.treatment:
        raise MsclabError(
            f"dose trend of contrast {contrast.name!r}: the treatment selector fixes {ratio_column!r}",
            hint="Select the treated samples of every ratio (remove the ratio from the selector).",
        )
    paired = controls.paired_effects(readouts, contrast, table=apply_censoring(readouts, censoring))
    paired = paired[paired[ratio_column].astype(str) != ""] if ratio_column in paired else paired.iloc[0:0]
    donors = controls.donor_effects(paired, by=(ratio_column,))
    rows = []
    for readout, group in donors.groupby("readout", sort=False):
        table = group.pivot_table(index="donor", columns=ratio_column, values="effect", aggfunc="mean", dropna=False)
        order = sorted(table.columns, key=msc_fraction)
        table = table[order]
        x = np.log2([msc_fraction(r) for r in order])
        slopes = _donor_slopes(table, x)
        res = t_stats(slopes, confidence)
        page_l, p_page, n_page = _page(table)
        rows.append(
            {
                "readout": readout,
                "contrast": contrast.name,
                "scale": group["scale"].iloc[0],
                "levels": ";".join(order),
                "n_donors": int(slopes.size),
                "slope": res.mean[0],
                "slope_ci_low": res.ci_low[0],
                "slope_ci_high": res.ci_high[0],
                "p_slope": res.p_value[0],
                "page_L": page_l,
                "p_page": p_page,
                "page_n_donors": n_page,
            }
        )
    out = pd.DataFrame(rows)
    if not out.empty:
        out.insert(out.columns.get_loc("p_slope") + 1, "q_slope", bh_qvalues(out["p_slope"].to_numpy(float)))
    return out
