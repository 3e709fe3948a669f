"""Standard-curve quality: recovery, quantification range, acceptance, LOD, hook.

The acceptance rules are those of ICH M10 *Bioanalytical Method Validation
and Study Sample Analysis* (Step 4, 24 May 2022), section 4.2.3 "Calibration
Curve and Range" for ligand-binding assays:

- back-calculated standards within **±20 %** of nominal, **±25 %** at the
  LLOQ and ULOQ;
- at least **75 %** of the standards (anchor points outside the range
  excluded) and at least **6** concentration levels meeting this;
- with replicates, a level meets it when at least half of its wells do.

LLOQ and ULOQ are the lowest and highest standard levels of the longest
contiguous run of levels meeting these limits. Outlier standards are masked
one at a time, most deviant first, as long as at least 75 % of the standard
wells remain (AAPS recommendations on calibration curves, Findlay & Dillard
2007, AAPS J 9(2):E260); every mask is recorded.

The limit of detection is the blank mean plus ``k`` blank standard
deviations converted to concentration, ``k = 3`` by default (IUPAC; Long &
Winefordner 1983, Anal. Chem. 55:712A); ``k = 2.5`` is also in use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .curves import CurveFit, fit_curve

#: ICH M10 (2022) section 4.2.3: back-calculated standards within this many
#: percent of nominal ...
ACCURACY_LIMIT = 20.0
#: ... and within this many percent at the LLOQ and ULOQ.
ACCURACY_LIMIT_ENDS = 25.0
#: ICH M10 (2022) section 4.2.3: fraction of standards that must meet the limits.
MIN_FRACTION_PASSING = 0.75
#: ICH M10 (2022) section 4.2.3: minimum number of levels meeting the limits.
MIN_LEVELS = 6
#: Replicate precision limit (CV %), ICH M10 (2022) section 4.2.4.
CV_LIMIT = 20.0
#: Blank mean + LOD_K * SD (IUPAC k = 3; Long & Winefordner 1983).
LOD_K = 3.0

STANDARD_COLUMNS = ("well", "level", "expected_concentration", "signal")


@dataclass
class Calibration:
    """A standard curve with its quality assessment and its audit trail.

    Attributes
    ----------
    fit
        The final curve (after masking).
    standards
        One row per standard well: ``well, level, expected_concentration,
        signal, masked, back_calculated, recovery_pct, within_limit``.
    lloq, uloq
        Quantification limits (nominal concentration of the end levels), NaN
        when no range could be established.
    accepted
        True when the curve meets ICH M10 section 4.2.3.
    reason
        Why the curve was not accepted (empty when it was).
    levels_in_range
        Number of levels between LLOQ and ULOQ.
    fraction_passing
        Fraction of the standard wells in range (masked ones counted as
        failures) that meet their limit.
    masks
        Every masked standard well: ``well, level, recovery_pct, reason``.
    warnings
        Hook effect and other notices.
    hook
        True when the signal falls at the top of the curve.
    lod, lod_signal
        Limit of detection in concentration and in signal (NaN without blanks).
    standard_range
        Lowest and highest nominal concentration of the unmasked standards.
    """

    fit: CurveFit
    standards: pd.DataFrame
    lloq: float = float("nan")
    uloq: float = float("nan")
    accepted: bool = False
    reason: str = ""
    levels_in_range: int = 0
    fraction_passing: float = float("nan")
    masks: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    hook: bool = False
    lod: float = float("nan")
    lod_signal: float = float("nan")
    standard_range: tuple[float, float] = (float("nan"), float("nan"))


def standard_recovery(fit: CurveFit, standards: pd.DataFrame) -> pd.DataFrame:
    """Back-calculate every standard well and its recovery (% of nominal).

    ``within_limit`` uses ±20 %, or ±25 % for the lowest and highest level of
    the series (ICH M10 (2022) section 4.2.3).
    """
    out = standards.copy()
    back = fit.inverse(out["signal"].to_numpy(dtype=float)) if fit.ok else np.full(len(out), np.nan)
    out["back_calculated"] = back
    out["recovery_pct"] = 100.0 * back / out["expected_concentration"].to_numpy(dtype=float)
    nominal = out["expected_concentration"]
    is_end = nominal.isin([nominal.min(), nominal.max()])
    limit = np.where(is_end, ACCURACY_LIMIT_ENDS, ACCURACY_LIMIT)
    out["within_limit"] = (np.abs(out["recovery_pct"] - 100.0) <= limit).to_numpy()
    return out


def _level_table(recovery: pd.DataFrame) -> pd.DataFrame:
    """Per level: nominal, wells, passing at ±20 %, passing at ±25 %."""
    rows = []
    for nominal, grp in recovery.groupby("expected_concentration", sort=True):
        used = grp[~grp["masked"]]
        dev = np.abs(used["recovery_pct"] - 100.0)
        rows.append({
            "nominal": float(nominal),
            "n_wells": len(grp),
            "n_used": len(used),
            "dev": dev.to_numpy(),
            "pass_inner": len(used) > 0 and (dev <= ACCURACY_LIMIT).sum() * 2 >= len(used),
            "pass_end": len(used) > 0 and (dev <= ACCURACY_LIMIT_ENDS).sum() * 2 >= len(used),
        })
    return pd.DataFrame(rows)


def quantification_range(recovery: pd.DataFrame) -> tuple[int, int] | None:
    """Indices (into the sorted levels) of LLOQ and ULOQ, or None.

    The longest contiguous run of levels whose interior levels meet ±20 % and
    whose two end levels meet ±25 % (ICH M10 (2022) section 4.2.3); ties go to
    the lower concentrations.
    """
    levels = _level_table(recovery)
    best = None
    n = len(levels)
    for i in range(n):
        if not levels.at[i, "pass_end"]:
            continue
        for j in range(n - 1, i - 1, -1):
            if not levels.at[j, "pass_end"]:
                continue
            if all(levels.at[k, "pass_inner"] for k in range(i + 1, j)):
                if best is None or j - i > best[1] - best[0]:
                    best = (i, j)
                break
    return best


def assess(fit: CurveFit, standards: pd.DataFrame) -> Calibration:
    """Recovery, LLOQ/ULOQ and ICH M10 acceptance of a fitted curve."""
    recovery = standard_recovery(fit, standards)
    used = recovery.loc[~recovery["masked"], "expected_concentration"]
    extent = (float(used.min()), float(used.max())) if len(used) else (np.nan, np.nan)
    cal = Calibration(fit=fit, standards=recovery, standard_range=extent)
    if not fit.ok:
        cal.reason = f"fit failed: {fit.reason}"
        return cal
    levels = _level_table(recovery)
    span = quantification_range(recovery)
    if span is None:
        cal.reason = "no standard level back-calculates within ±25 %"
        return cal
    i, j = span
    cal.lloq, cal.uloq = float(levels.at[i, "nominal"]), float(levels.at[j, "nominal"])
    cal.levels_in_range = j - i + 1
    in_range = levels.iloc[i : j + 1]
    passing = 0
    for k, row in in_range.iterrows():
        limit = ACCURACY_LIMIT_ENDS if k in (i, j) else ACCURACY_LIMIT
        passing += int((row["dev"] <= limit).sum())
    cal.fraction_passing = passing / int(in_range["n_wells"].sum())
    problems = []
    if cal.levels_in_range < MIN_LEVELS:
        problems.append(f"{cal.levels_in_range} levels within limits (ICH M10 needs >= {MIN_LEVELS})")
    if cal.fraction_passing < MIN_FRACTION_PASSING:
        problems.append(
            f"{100 * cal.fraction_passing:.0f} % of standards in range within limits (ICH M10 needs >= 75 %)"
        )
    cal.accepted = not problems
    cal.reason = "; ".join(problems)
    return cal


def detect_hook(standards: pd.DataFrame) -> list[float]:
    """Nominal concentrations of top levels whose signal falls back (hook / prozone).

    The direction of the curve comes from the lower half of the levels; a
    top level whose mean signal is below (rising curve) or above (falling
    curve) the level under it is hooked, and so on downwards.
    """
    means = standards.groupby("expected_concentration")["signal"].mean().sort_index()
    means = means[np.isfinite(means)]
    if len(means) < 4:
        return []
    half = means.iloc[: max(2, len(means) // 2 + 1)]
    direction = np.sign(half.iloc[-1] - half.iloc[0]) or 1.0
    hooked = []
    for k in range(len(means) - 1, 0, -1):
        if direction * (means.iloc[k] - means.iloc[k - 1]) < 0:
            hooked.append(float(means.index[k]))
        else:
            break
    return hooked


def lod_from_blanks(fit: CurveFit, blank_signals: np.ndarray, k: float = LOD_K) -> tuple[float, float]:
    """Limit of detection from blank wells: signal ``mean ± k SD`` and its concentration.

    Returns ``(lod_concentration, lod_signal)``; NaN with fewer than two
    blanks or when the signal is beyond the curve's asymptote.
    """
    blanks = np.asarray(blank_signals, dtype=float)
    blanks = blanks[np.isfinite(blanks)]
    if blanks.size < 2 or not fit.ok:
        return float("nan"), float("nan")
    direction = 1.0 if fit.rising else -1.0
    signal = float(blanks.mean() + direction * k * blanks.std(ddof=1))
    return float(fit.inverse(np.array([signal]))[0]), signal


def _deviation(recovery_pct: pd.Series) -> pd.Series:
    """Symmetric deviation |ln(recovery / 100)|; not calculable = infinite."""
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = np.abs(np.log(recovery_pct.to_numpy(dtype=float) / 100.0))
    return pd.Series(np.where(np.isfinite(dev), dev, np.inf), index=recovery_pct.index)


def calibrate(
    standards: pd.DataFrame,
    model: str = "5pl",
    weighting: str = "1/y^2",
    *,
    weight_floor: float | None = None,
    mask_outliers: bool = True,
    blank_signals: np.ndarray | None = None,
    lod_k: float = LOD_K,
) -> Calibration:
    """Fit standards, mask outliers and hooked top levels, and assess the curve.

    Parameters
    ----------
    standards
        One row per standard well with :data:`STANDARD_COLUMNS`; an optional
        boolean ``masked`` column holds masks the user set beforehand.
    model, weighting, weight_floor
        Passed to :func:`~msclab.assay.curves.fit_curve`.
    mask_outliers
        Mask failing standards one at a time, most deviant first (recovery
        on a log scale; a standard that cannot be back-calculated counts as
        the most deviant), while at least 75 % of the wells remain.
    blank_signals
        Signals of blank wells, for the limit of detection.
    lod_k
        Blank SDs above the blank mean for the LOD.

    Returns
    -------
    Calibration
        Never raises for bad data: a failed fit is ``fit.ok = False``.
    """
    table = standards.loc[:, list(STANDARD_COLUMNS)].reset_index(drop=True)
    table["masked"] = standards["masked"].astype(bool).to_numpy() if "masked" in standards else False
    table = table[np.isfinite(table["expected_concentration"]) & (table["expected_concentration"] > 0)]
    masks = [
        {"well": w, "level": lv, "recovery_pct": np.nan, "reason": "masked by the user"}
        for w, lv in table.loc[table["masked"], ["well", "level"]].itertuples(index=False)
    ]
    warnings = []
    hooked = detect_hook(table[~table["masked"]])
    if hooked:
        warnings.append(
            "hook effect: signal falls at the top of the curve (levels "
            + ", ".join(f"{c:g}" for c in sorted(hooked)) + " masked); high samples may be under-read"
        )
        for idx in table.index[table["expected_concentration"].isin(hooked) & ~table["masked"]]:
            table.at[idx, "masked"] = True
            masks.append({"well": table.at[idx, "well"], "level": table.at[idx, "level"],
                          "recovery_pct": np.nan, "reason": "hook effect"})

    def fit_unmasked() -> CurveFit:
        used = table[~table["masked"]]
        return fit_curve(used["expected_concentration"], used["signal"], model, weighting, weight_floor=weight_floor)

    fit = fit_unmasked()
    max_masked = int(np.floor((1.0 - MIN_FRACTION_PASSING) * len(table)))
    while mask_outliers and fit.ok and int(table["masked"].sum()) < max_masked:
        recovery = standard_recovery(fit, table)
        failing = recovery[~recovery["masked"] & ~recovery["within_limit"]]
        if failing.empty:
            break
        worst = _deviation(failing["recovery_pct"]).idxmax()
        table.at[worst, "masked"] = True
        refit = fit_unmasked()
        if not refit.ok:
            table.at[worst, "masked"] = False
            break
        fit = refit
        masks.append({
            "well": table.at[worst, "well"], "level": table.at[worst, "level"],
            "recovery_pct": float(recovery.at[worst, "recovery_pct"]),
            "reason": "outlier: back-calculated outside ±20/25 % (most deviant standard)",
        })

    cal = assess(fit, table)
    cal.masks, cal.warnings, cal.hook = masks, warnings, bool(hooked)
    if blank_signals is not None:
        cal.lod, cal.lod_signal = lod_from_blanks(fit, blank_signals, lod_k)
    return cal
