"""From an effect and its confidence interval to a verdict.

Effects are first turned to the *expected* side: ``s = +estimate`` when the
catalogue expects the readout to go up (on a log2 scale) and ``s = -estimate``
when it expects down; % suppression is already "down is positive". ``t`` is
the required effect (``scoring.log2fc_consistent`` = 0.26 on log2 scales,
``scoring.suppression_consistent`` = 20 % points for proliferation, both
msclab's own heuristics), halved when a modifier applies.

Rule ``"estimate"`` (default; the scoring guidance's "effect beyond the
threshold and statistically supported"):

- concordant: the CI excludes 0 on the expected side and ``s >= t``;
- discordant: the CI excludes 0 on the other side and ``s <= -t``;
- inconclusive otherwise: the CI spans 0, or the estimate does not reach ``t``.

Rule ``"ci"`` (strict): concordant when the whole CI is beyond ``t``,
discordant when it is beyond ``-t``, inconclusive when the CI spans a threshold.

For an expected ``no_change``: concordant when the CI lies inside ``(-t, t)``;
discordant when the effect is beyond ``t`` either way (by the same rule);
inconclusive otherwise. Fewer than two donors (no CI) is always inconclusive.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

CONCORDANT, DISCORDANT, INCONCLUSIVE = "concordant", "discordant", "inconclusive"
LITERATURE_CONFLICTING, NOT_MEASURED = "literature_conflicting", "not_measured"

#: Every verdict, in report order.
VERDICTS = (CONCORDANT, DISCORDANT, INCONCLUSIVE, LITERATURE_CONFLICTING, NOT_MEASURED)

Rule = Literal["estimate", "ci"]


def expected_sign(direction: str, scale: str) -> int:
    """Return +1 when the expected change is positive on ``scale``, -1 when negative, 0 for no change."""
    sign = {"up": 1, "down": -1}.get(direction, 0)
    return -sign if scale == "pct_suppression" else sign


def classify(
    sign: np.ndarray,
    estimate: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    threshold: np.ndarray,
    rule: Rule = "estimate",
) -> np.ndarray:
    """Return verdict codes: 1 concordant, -1 discordant, 0 inconclusive.

    Parameters
    ----------
    sign
        Per row +1 / -1 (expected up / down on the effect's scale) or 0 (no change expected).
    estimate, low, high
        Effect and CI on the effect's scale.
    threshold
        Required effect per row (positive).
    rule
        ``"estimate"`` or ``"ci"`` (see module docstring).
    """
    sign, est, low, high, t = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (sign, estimate, low, high, threshold)))
    directional = sign != 0
    flip = np.where(sign < 0, -1.0, 1.0)
    s, s_lo, s_hi = est * flip, np.where(sign < 0, -high, low), np.where(sign < 0, -low, high)
    if rule == "ci":
        conc_dir, disc_dir = s_lo >= t, s_hi <= -t
        beyond = (s_lo >= t) | (s_hi <= -t)
    else:
        conc_dir, disc_dir = (s_lo > 0) & (s >= t), (s_hi < 0) & (s <= -t)
        beyond = ((s_lo > 0) | (s_hi < 0)) & (np.abs(s) >= t)
    within = (s_lo > -t) & (s_hi < t)
    code = np.where(
        directional,
        np.where(conc_dir, 1, np.where(disc_dir, -1, 0)),
        np.where(within, 1, np.where(beyond, -1, 0)),
    )
    return np.where(np.isnan(low) | np.isnan(high) | np.isnan(est), 0, code).astype(int)


def reason(code: int, sign: int, estimate: float, low: float, high: float, threshold: float) -> str:
    """Return one sentence explaining a verdict code."""
    if np.isnan(low) or np.isnan(high):
        return "fewer than 2 donors: no confidence interval"
    if sign == 0:
        return {
            1: f"CI inside +/-{threshold:g}: no relevant change, as expected",
            -1: f"changed by at least {threshold:g} although no change is expected",
            0: f"CI reaches beyond +/-{threshold:g}: cannot tell whether it changed",
        }[code]
    if code == 1:
        return f"changed in the expected direction by at least {threshold:g}, CI excludes 0"
    if code == -1:
        return f"changed against the expected direction by at least {threshold:g}, CI excludes 0"
    if low <= 0 <= high:
        return "CI includes 0"
    return f"effect does not clearly reach the required {threshold:g}"
