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

    def __repr__(self) -> str:
        status = "accepted" if self.accepted else f"not accepted: {self.reason}"
        return (f"Calibration({status}; LLOQ={self.lloq:.4g}, ULOQ={self.uloq:.4g}, "
                f"{len(self.standards)} standards, {len(self.masks)} masked; {self.fit!r})")


def _recovery_arrays(
    fit: CurveFit, nominal: np.ndarray, signal: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Back-calculated concentration, recovery (%) and ``within_limit`` of standard wells.

    ``within_limit`` uses ±20 %, or ±25 % for the lowest and highest level of
    the series (ICH M10 (2022) section 4.2.3); masked wells count in the series.
    """
    back = fit.inverse(signal) if fit.ok else np.full(nominal.shape, np.nan)
    recovery = 100.0 * back / nominal
    known = nominal[~np.isnan(nominal)]
    if known.size:
        is_end = (nominal == known.min()) | (nominal == known.max())
    else:
        is_end = np.zeros(nominal.shape, dtype=bool)
    limit = np.where(is_end, ACCURACY_LIMIT_ENDS, ACCURACY_LIMIT)
    return back, recovery, np.abs(recovery - 100.0) <= limit


def standard_recovery(fit: CurveFit, standards: pd.DataFrame) -> pd.DataFrame:
    """Back-calculate every standard well and its recovery (% of nominal).

    ``within_limit`` uses ±20 %, or ±25 % for the lowest and highest level of
    the series (ICH M10 (2022) section 4.2.3).
    """
    out = standards.copy()
    back, recovery, within = _recovery_arrays(
        fit, out["expected_concentration"].to_numpy(dtype=float), out["signal"].to_numpy(dtype=float)
    )
    out["back_calculated"] = back
    out["recovery_pct"] = recovery
    out["within_limit"] = within
    return out


@dataclass
class _Levels:
    """Standard levels (sorted nominal concentrations) and their well counts.

    Attributes
    ----------
    nominal
        The levels.
    n_wells
        Wells per level, masked ones included.
    n_used
        Unmasked wells per level.
    n_inner, n_end
        Unmasked wells per level back-calculated within ±20 % / ±25 %.
    """

    nominal: np.ndarray
    n_wells: np.ndarray
    n_used: np.ndarray
    n_inner: np.ndarray
    n_end: np.ndarray

    @classmethod
    def count(cls, nominal: np.ndarray, masked: np.ndarray, recovery_pct: np.ndarray) -> _Levels:
        """Count the wells of every level (wells without a nominal concentration are left out)."""
        known = ~np.isnan(nominal)
        levels, level_of = np.unique(nominal[known], return_inverse=True)
        used = ~masked[known]
        deviation = np.abs(recovery_pct[known] - 100.0)

        def per_level(wells: np.ndarray) -> np.ndarray:
            return np.bincount(level_of[wells], minlength=levels.size)

        return cls(
            nominal=levels,
            n_wells=np.bincount(level_of, minlength=levels.size),
            n_used=per_level(used),
            n_inner=per_level(used & (deviation <= ACCURACY_LIMIT)),
            n_end=per_level(used & (deviation <= ACCURACY_LIMIT_ENDS)),
        )

    def quantification_range(self) -> tuple[int, int] | None:
        """Indices of LLOQ and ULOQ (see :func:`quantification_range`), or None."""
        # A level meets a limit when at least half of its unmasked wells do.
        pass_inner = ((self.n_used > 0) & (2 * self.n_inner >= self.n_used)).tolist()
        pass_end = ((self.n_used > 0) & (2 * self.n_end >= self.n_used)).tolist()
        best = None
        n = len(pass_end)
        for i in range(n):
            if not pass_end[i]:
                continue
            for j in range(n - 1, i - 1, -1):
                if not pass_end[j]:
                    continue
                if all(pass_inner[i + 1 : j]):
                    if best is None or j - i > best[1] - best[0]:
                        best = (i, j)
                    break
        return best


def quantification_range(recovery: pd.DataFrame) -> tuple[int, int] | None:
    """Indices (into the sorted levels) of LLOQ and ULOQ, or None.

    The longest contiguous run of levels whose interior levels meet ±20 % and
    whose two end levels meet ±25 % (ICH M10 (2022) section 4.2.3); ties go to
    the lower concentrations. ``recovery`` is a :func:`standard_recovery`
    table with a boolean ``masked`` column.
    """
    levels = _Levels.count(
        recovery["expected_concentration"].to_numpy(dtype=float),
        recovery["masked"].to_numpy(dtype=bool),
        recovery["recovery_pct"].to_numpy(dtype=float),
    )
    return levels.quantification_range()


def _assess(fit: CurveFit, recovery: pd.DataFrame, nominal: np.ndarray, masked: np.ndarray,
            recovery_pct: np.ndarray) -> Calibration:
    """:func:`assess` on the standards' arrays; ``recovery`` becomes ``Calibration.standards``."""
    used = nominal[~masked]
    used = used[~np.isnan(used)]
    extent = (float(used.min()), float(used.max())) if used.size else (np.nan, np.nan)
    cal = Calibration(fit=fit, standards=recovery, standard_range=extent)
    if not fit.ok:
        cal.reason = f"fit failed: {fit.reason}"
        return cal
    levels = _Levels.count(nominal, masked, recovery_pct)
    span = levels.quantification_range()
    if span is None:
        cal.reason = "no standard level back-calculates within ±25 %"
        return cal
    i, j = span
    cal.lloq, cal.uloq = float(levels.nominal[i]), float(levels.nominal[j])
    cal.levels_in_range = j - i + 1
    # The end levels are held to ±25 %, the levels between them to ±20 %.
    passing = int(levels.n_end[i]) + (int(levels.n_end[j]) if j > i else 0) + int(levels.n_inner[i + 1 : j].sum())
    cal.fraction_passing = passing / int(levels.n_wells[i : j + 1].sum())
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


def assess(fit: CurveFit, standards: pd.DataFrame) -> Calibration:
    """Recovery, LLOQ/ULOQ and ICH M10 acceptance of a fitted curve.

    ``standards`` has :data:`STANDARD_COLUMNS` and a boolean ``masked`` column.
    """
    recovery = standard_recovery(fit, standards)
    return _assess(
        fit, recovery,
        recovery["expected_concentration"].to_numpy(dtype=float),
        recovery["masked"].to_numpy(dtype=bool),
        recovery["recovery_pct"].to_numpy(dtype=float),
    )


def _hooked_levels(nominal: np.ndarray, signal: np.ndarray) -> list[float]:
    """:func:`detect_hook` on arrays of nominal concentrations and signals."""
    known = ~np.isnan(nominal)
    levels, level_of = np.unique(nominal[known], return_inverse=True)
    signal = signal[known]
    measured = ~np.isnan(signal)
    total = np.bincount(level_of[measured], weights=signal[measured], minlength=levels.size)
    count = np.bincount(level_of[measured], minlength=levels.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = total / count
    finite = np.isfinite(means)
    levels, means = levels[finite], means[finite]
    if means.size < 4:
        return []
    half = means[: max(2, means.size // 2 + 1)]
    direction = np.sign(half[-1] - half[0]) or 1.0
    hooked = []
    for k in range(means.size - 1, 0, -1):
        if direction * (means[k] - means[k - 1]) < 0:
            hooked.append(float(levels[k]))
        else:
            break
    return hooked


def detect_hook(standards: pd.DataFrame) -> list[float]:
    """Nominal concentrations of top levels whose signal falls back (hook / prozone).

    The direction of the curve comes from the lower half of the levels; a
    top level whose mean signal is below (rising curve) or above (falling
    curve) the level under it is hooked, and so on downwards.
    """
    return _hooked_levels(
        standards["expected_concentration"].to_numpy(dtype=float), standards["signal"].to_numpy(dtype=float)
    )


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


def _deviation(recovery_pct: np.ndarray) -> np.ndarray:
    """Symmetric deviation |ln(recovery / 100)|; not calculable = infinite."""
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = np.abs(np.log(recovery_pct / 100.0))
    return np.where(np.isfinite(dev), dev, np.inf)


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
    nominal = table["expected_concentration"].to_numpy(dtype=float)
    keep = np.isfinite(nominal) & (nominal > 0)
    index = table.index if keep.all() else table.index[keep]
    columns = {name: table[name].array[keep] for name in STANDARD_COLUMNS}
    well, level = columns["well"], columns["level"]
    nominal = nominal[keep]
    signal = np.asarray(columns["signal"], dtype=float)
    masked = (standards["masked"].astype(bool).to_numpy()[keep] if "masked" in standards
              else np.zeros(nominal.size, dtype=bool))
    masks = [
        {"well": well[k], "level": level[k], "recovery_pct": np.nan, "reason": "masked by the user"}
        for k in np.flatnonzero(masked)
    ]
    warnings = []
    hooked = _hooked_levels(nominal[~masked], signal[~masked])
    if hooked:
        warnings.append(
            "hook effect: signal falls at the top of the curve (levels "
            + ", ".join(f"{c:g}" for c in sorted(hooked)) + " masked); high samples may be under-read"
        )
        for k in np.flatnonzero(np.isin(nominal, hooked) & ~masked):
            masked[k] = True
            masks.append({"well": well[k], "level": level[k], "recovery_pct": np.nan, "reason": "hook effect"})

    def fit_unmasked() -> CurveFit:
        used = ~masked
        return fit_curve(nominal[used], signal[used], model, weighting, weight_floor=weight_floor)

    fit = fit_unmasked()
    max_masked = int(np.floor((1.0 - MIN_FRACTION_PASSING) * nominal.size))
    while mask_outliers and fit.ok and int(masked.sum()) < max_masked:
        _, recovery_pct, within = _recovery_arrays(fit, nominal, signal)
        failing = np.flatnonzero(~masked & ~within)
        if not failing.size:
            break
        worst = failing[np.argmax(_deviation(recovery_pct[failing]))]
        masked[worst] = True
        refit = fit_unmasked()
        if not refit.ok:
            masked[worst] = False
            break
        fit = refit
        masks.append({
            "well": well[worst], "level": level[worst], "recovery_pct": float(recovery_pct[worst]),
            "reason": "outlier: back-calculated outside ±20/25 % (most deviant standard)",
        })

    back, recovery_pct, within = _recovery_arrays(fit, nominal, signal)
    recovery = pd.DataFrame(
        {**columns, "masked": masked, "back_calculated": back, "recovery_pct": recovery_pct, "within_limit": within},
        index=index,
    )
    cal = _assess(fit, recovery, nominal, masked, recovery_pct)
    cal.masks, cal.warnings, cal.hook = masks, warnings, bool(hooked)
    if blank_signals is not None:
        cal.lod, cal.lod_signal = lod_from_blanks(fit, blank_signals, lod_k)
    return cal
