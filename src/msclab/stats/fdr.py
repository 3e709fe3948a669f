"""Benjamini-Hochberg false discovery rate control.

Benjamini Y, Hochberg Y. Controlling the false discovery rate: a practical and
powerful approach to multiple testing. J R Stat Soc B 1995;57(1):289-300.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def bh_qvalues(p_values: ArrayLike) -> np.ndarray:
    """Return Benjamini-Hochberg adjusted p-values (q-values).

    ``q_(i) = min_{j >= i} min(1, m * p_(j) / j)`` over the ``m`` non-missing
    p-values sorted ascending; NaN p-values stay NaN and do not count in ``m``.

    Parameters
    ----------
    p_values
        P-values in any order.

    Returns
    -------
    ndarray
        q-values in the order of ``p_values``.
    """
    p = np.asarray(p_values, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return q
    order = np.argsort(p[ok], kind="mergesort")
    ranked = p[ok][order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    out = np.empty(m)
    out[order] = adjusted
    q[ok] = out
    return q
