"""Concentrations from an assay export: curves per plate x analyte, flags, CIs.

:func:`quantify` takes an :class:`~msclab.io.assay_export.AssayExport` (or its
tidy table), fits one standard curve per plate x analyte
(:func:`~msclab.assay.qc.calibrate`), back-calculates every well, multiplies
by the well's dilution factor and flags every value. With many curves they
are fitted in worker processes (``n_jobs``), with the same results. Values
are never clamped: a value below the LLOQ keeps its back-calculated number
(or NaN when the signal lies beyond the curve's asymptote) and carries a
flag.

Flags (names of :data:`msclab.readouts.FLAG_LEVELS`), first match wins:

``fit_failed``
    no curve, or the curve failed ICH M10 acceptance (the value is kept for
    inspection);
``masked``
    a standard excluded from the fit (outlier, hook, user);
``not_measured``
    no signal;
``saturated``
    signal beyond the curve's high-concentration plateau, or above the top
    usable standard of a curve with a hook effect;
``<LLOQ`` / ``>ULOQ``
    below the LLOQ / above the ULOQ but inside the standards' concentration
    span, or not calculable below the curve;
``extrapolated``
    calculable but beyond the lowest or highest standard (``range`` says
    which side);
``high_cv``
    in range, but the replicate wells' CV exceeds 20 % (ICH M10 (2022)
    section 4.2.4);
``ok``
    in range.

Confidence intervals use the delta method on log concentration: the
variance of ``ln x`` combines the curve parameters' covariance and the
well's own measurement noise (residual variance under the fit's weighting),
both divided by the squared slope of the curve at that point; the interval
uses Student's t with the fit's residual degrees of freedom and is
exponentiated (so it is asymmetric and positive).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from .._parallel import fork_map
from ..errors import MsclabError
from ..io.assay_export import REQUIRED_COLUMNS, AssayExport
from ..flags import FLAG_LEVELS, flag_code
from .curves import CurveFit, inverse_logistic, logistic_jacobian, logistic_slope
from .qc import CV_LIMIT, LOD_K, STANDARD_COLUMNS, Calibration, calibrate

#: The curve equation written beside the parameters in ``curves.csv``.
EQUATION = "y = A + (B - A) / (1 + (x / C)^(-D))^F"
#: Flags of values that are usable as they are.
IN_RANGE_FLAGS = ("ok", "high_cv")
#: Which flag describes a sample best when its wells disagree (most severe first).
FLAG_PRIORITY = ("fit_failed", "saturated", ">ULOQ", "<LLOQ", "extrapolated", "high_cv", "masked", "not_measured", "ok")
#: Fewest curves per worker process: a forked worker costs about as much as fitting a curve or two.
MIN_CURVES_PER_PROCESS = 8


def back_calculate(
    fit: CurveFit, signal: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concentrations for ``signal`` with delta-method confidence intervals.

    Parameters
    ----------
    fit
        A fitted curve.
    signal
        Responses of single wells.
    confidence
        Two-sided confidence level.

    Returns
    -------
    concentration, ci_low, ci_high
        NaN where the signal lies beyond the curve's asymptotes.
    """
    y = np.asarray(signal, dtype=float)
    nan = np.full(y.shape, np.nan)
    if not fit.ok or y.size == 0:
        return nan, nan.copy(), nan.copy()
    t = inverse_logistic(y, fit.theta)
    ok = np.isfinite(t)
    lo, hi = nan.copy(), nan.copy()
    if ok.any() and fit.dof > 0 and np.all(np.isfinite(fit.covariance)):
        jac = logistic_jacobian(t[ok], fit.theta)[:, : fit.n_free]
        var_params = np.einsum("ij,jk,ik->i", jac, fit.covariance, jac)
        var_noise = fit.sigma**2 / fit.weights(y[ok])
        slope = logistic_slope(t[ok], fit.theta)
        se = np.sqrt((var_params + var_noise) / slope**2)
        q = stats.t.ppf(0.5 + confidence / 2.0, fit.dof)
        with np.errstate(over="ignore"):  # a huge SE gives an infinite upper bound, which is honest
            lo[ok], hi[ok] = np.exp(t[ok] - q * se), np.exp(t[ok] + q * se)
    return np.exp(t), lo, hi


def _flags(
    cal: Calibration, signal: np.ndarray, conc: np.ndarray, masked: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flag, reason and range side ('<', '>', '') of in-well values; the first rule that applies wins."""
    n = signal.size
    flag, reason, side = np.full(n, "ok", dtype=object), np.full(n, "", dtype=object), np.full(n, "", dtype=object)
    fit = cal.fit
    if not fit.ok:
        flag[:], reason[:] = "fit_failed", fit.reason
        return flag, reason, side
    low_std, high_std = cal.standard_range
    measured = np.isfinite(signal)
    calculable = np.isfinite(conc)
    toward_high = (signal - fit.theta[0]) * (fit.theta[1] - fit.theta[0]) > 0
    below_lloq, above_uloq = conc < cal.lloq, conc > cal.uloq
    rules = [
        (masked, "masked", "standard excluded from the fit", ""),
        (~measured, "not_measured", "no signal", ""),
        (~calculable & toward_high, "saturated", "signal beyond the curve's high-concentration plateau", ">"),
        (~calculable, "<LLOQ", "signal beyond the curve's zero-concentration asymptote", "<"),
        (cal.hook & (conc > high_std), "saturated", "above the top usable standard of a curve with a hook effect", ">"),
        (np.full(n, not cal.accepted), "fit_failed", f"curve not accepted: {cal.reason}", ""),
        (below_lloq & (conc < low_std), "extrapolated", "below the lowest standard", "<"),
        (below_lloq, "<LLOQ", "below the LLOQ", "<"),
        (above_uloq & (conc > high_std), "extrapolated", "above the highest standard", ">"),
        (above_uloq, ">ULOQ", "above the ULOQ", ">"),
    ]
    unflagged = np.ones(n, dtype=bool)
    for applies, name, why, where in rules:
        hit = unflagged & applies
        flag[hit], reason[hit], side[hit] = name, why, where
        unflagged &= ~hit
    return flag, reason, side


@dataclass(frozen=True)
class AssayProvenance:
    """What quantifying one assay decided: its fragment of ``provenance.json``.

    :meth:`msclab.provenance.Provenance.record` puts it into ``steps['assays'][assay]``.

    Attributes
    ----------
    assay
        The assay's id in ``experiment.yaml``.
    settings
        The curve model, weighting and acceptance rules used.
    masks
        Every masked standard well with its reason.
    """

    assay: str
    settings: dict[str, Any]
    masks: list[dict[str, Any]]

    def steps(self) -> dict[str, Any]:
        """The ``steps`` section this fragment adds."""
        return {"assays": {self.assay: {"settings": self.settings, "masks": self.masks}}}


@dataclass
class AssayResult:
    """Everything :func:`quantify` computed.

    Attributes
    ----------
    wells
        One row per plate x well x analyte: the export's columns plus
        ``concentration_in_well, concentration, ci_low, ci_high, unit, flag,
        flag_reason, range, recovery_pct, replicate_n, replicate_mean,
        replicate_sd, replicate_cv``. ``concentration`` and the CI are
        multiplied by ``dilution``.
    curves
        One row per plate x analyte (the ``curves.csv`` contract).
    masks
        Every masked standard well with its reason.
    calibrations
        The :class:`~msclab.assay.qc.Calibration` per ``(plate, analyte)``.
    settings
        The parameters used.
    """

    wells: pd.DataFrame
    curves: pd.DataFrame
    masks: pd.DataFrame
    calibrations: dict[tuple[str, str], Calibration] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    def provenance(self, assay: str) -> AssayProvenance:
        """This result's fragment of ``provenance.json`` as assay ``assay`` of an experiment."""
        return AssayProvenance(assay, dict(self.settings), self.masks.to_dict("records"))

    def __repr__(self) -> str:
        accepted = int(self.curves["accepted"].sum()) if "accepted" in self.curves else 0
        return (f"AssayResult({len(self.wells)} wells, {len(self.curves)} curves ({accepted} accepted), "
                f"{len(self.masks)} masked standards)")

    def to_dataset(self) -> xr.Dataset:
        """The wells as an xarray Dataset with dims ``plate x well x analyte``.

        Variables: ``signal, concentration, concentration_in_well, ci_low,
        ci_high, dilution`` (float) and ``flag`` (int8 codes; names in
        ``attrs['flag_meanings']``, as in :data:`msclab.readouts.FLAG_LEVELS`).
        ``sample_id`` and ``sample_type`` are ``plate x well`` coordinates.
        """
        table = self.wells.assign(flag=[flag_code(f) for f in self.wells["flag"]])
        cols = ["signal", "concentration", "concentration_in_well", "ci_low", "ci_high", "dilution", "flag"]
        ds = table.set_index(["plate", "well", "analyte"])[cols].to_xarray()
        ds["flag"] = ds["flag"].fillna(flag_code("not_measured")).astype(np.int8)
        ds["flag"].attrs.update(flag_values=list(range(len(FLAG_LEVELS))), flag_meanings=" ".join(FLAG_LEVELS))
        ids = self.wells.drop_duplicates(["plate", "well"]).set_index(["plate", "well"])
        for name in ("sample_id", "sample_type"):
            if name in ids:
                ds = ds.assign_coords({name: ids[name].astype(str).to_xarray()})
        ds.attrs.update({k: str(v) for k, v in self.settings.items()})
        return ds

    def readout_records(self, sample_types: tuple[str, ...] = ("unknown",)) -> pd.DataFrame:
        """One concentration record per sample x analyte for :func:`msclab.readouts.build_readouts`.

        Wells of a sample (replicates, dilutions, plates) are combined: the
        mean neat concentration of its in-range wells (flag ``high_cv`` when
        their CV exceeds the limit), else the mean of the wells carrying the
        sample's most common flag (ties: most severe) with that flag.

        For the statistics a value outside the quantification range is a
        censored observation, so the readout flag says on which side:
        ``extrapolated`` below the standards becomes ``<LLOQ`` and above them
        ``>ULOQ``, and ``saturated`` (beyond the high plateau) becomes
        ``>ULOQ``; the measured (extrapolated) value is kept, never clamped.
        ``lloq`` and ``uloq`` give the sample's neat limits (the curve's
        limits times the dilution), which the censoring rule substitutes
        (:mod:`msclab.normalise.censoring`).
        """
        wells = self.wells[self.wells["sample_type"].isin(sample_types)]
        cv_limit = float(self.settings.get("cv_limit", CV_LIMIT))
        limits = self.curves.set_index(["plate", "analyte"])[["lloq", "uloq"]] if len(self.curves) else None
        records = []
        for (sample_id, analyte), grp in wells.groupby(["sample_id", "analyte"], sort=True):
            usable = grp[grp["flag"].isin(IN_RANGE_FLAGS)]
            if len(usable):
                values = usable["concentration"].to_numpy(dtype=float)
                cv = _cv(values)
                flag = "high_cv" if (np.isfinite(cv) and cv > cv_limit) or (usable["flag"] == "high_cv").all() else "ok"
                chosen = usable
            else:
                counts = grp["flag"].value_counts()
                top = counts[counts == counts.max()].index
                flag = min(top, key=FLAG_PRIORITY.index)
                chosen = grp[grp["flag"] == flag]
                values = chosen["concentration"].to_numpy(dtype=float)
                flag = _censored_side(flag, chosen)
            finite = values[np.isfinite(values)]
            lloq, uloq = _neat_limits(chosen, limits)
            records.append({
                "sample_id": sample_id,
                "readout": f"assay:{analyte}:concentration",
                "value": float(finite.mean()) if finite.size else np.nan,
                "kind": "concentration",
                "unit": grp["unit"].iloc[0],
                "flag": flag,
                "analyte": analyte,
                "statistic": "concentration",
                "lloq": lloq,
                "uloq": uloq,
            })
        return pd.DataFrame(records, columns=["sample_id", "readout", "value", "kind", "unit", "flag", "analyte",
                                              "statistic", "lloq", "uloq"])


def _censored_side(flag: str, wells: pd.DataFrame) -> str:
    """``extrapolated``/``saturated`` wells as the censored flag of their side (``<LLOQ`` or ``>ULOQ``)."""
    if flag == "saturated":
        return ">ULOQ"
    if flag == "extrapolated" and "range" in wells:
        side = wells["range"].mode()
        if len(side) and side.iloc[0] in ("<", ">"):
            return "<LLOQ" if side.iloc[0] == "<" else ">ULOQ"
    return flag


def _neat_limits(wells: pd.DataFrame, limits: pd.DataFrame | None) -> tuple[float, float]:
    """Mean over a sample's wells of the curve's LLOQ and ULOQ times each well's dilution."""
    if limits is None:
        return np.nan, np.nan
    keys = pd.MultiIndex.from_frame(wells[["plate", "analyte"]].astype(str))
    found = limits.reindex(keys)
    dilution = wells["dilution"].to_numpy(dtype=float)
    lloq = found["lloq"].to_numpy(dtype=float) * dilution
    uloq = found["uloq"].to_numpy(dtype=float) * dilution
    return (float(np.nanmean(lloq)) if np.isfinite(lloq).any() else np.nan,
            float(np.nanmean(uloq)) if np.isfinite(uloq).any() else np.nan)


def _cv(values: np.ndarray) -> float:
    """Coefficient of variation in percent (NaN for fewer than two finite values)."""
    v = values[np.isfinite(values)]
    if v.size < 2 or v.mean() == 0:
        return float("nan")
    return float(100.0 * v.std(ddof=1) / abs(v.mean()))


def _units(export: AssayExport, table: pd.DataFrame, unit: str | None) -> pd.Series:
    """Unit per row: explicit ``unit``, a ``unit`` column, metadata units per analyte, or ''."""
    if unit is not None:
        return pd.Series(unit, index=table.index)
    if "unit" in table:
        return table["unit"].fillna("").astype(str)
    units = export.metadata.get("units", export.metadata.get("unit", ""))
    if isinstance(units, dict):
        return table["analyte"].map(lambda a: str(units.get(a, "")))
    return pd.Series(str(units), index=table.index)


def _prepare(export: AssayExport | pd.DataFrame) -> tuple[AssayExport, pd.DataFrame]:
    if isinstance(export, pd.DataFrame):
        export = AssayExport(table=export, path=None, format="table")  # type: ignore[arg-type]
    table = export.table.reset_index(drop=True)
    missing = [c for c in REQUIRED_COLUMNS if c not in table]
    if missing:
        raise MsclabError(f"the assay table lacks the columns {missing}", file=export.path)
    defaults = {"sample_type": "unknown", "sample_id": "", "level": "", "expected_concentration": np.nan, "dilution": 1.0}
    for name, value in defaults.items():
        if name not in table:
            table[name] = value
    table["plate"] = table["plate"].astype(str)
    table["signal"] = pd.to_numeric(table["signal"], errors="coerce")
    table["expected_concentration"] = pd.to_numeric(table["expected_concentration"], errors="coerce")
    table["dilution"] = pd.to_numeric(table["dilution"], errors="coerce").fillna(1.0)
    table["sample_type"] = table["sample_type"].fillna("unknown").astype(str)
    table["sample_id"] = table["sample_id"].fillna("").astype(str)
    if not (table["sample_type"] == "standard").any():
        raise MsclabError(
            "the export has no standard wells, so no standard curve can be fitted",
            file=export.path,
            hint="Give a plate layout (--layout) that marks the standards and their concentrations.",
        )
    return export, table


def quantify(
    export: AssayExport | pd.DataFrame,
    model: str = "5pl",
    weighting: str = "1/y^2",
    *,
    weight_floor: float | None = None,
    mask_outliers: bool = True,
    masked_wells: set[tuple[str, str]] | None = None,
    lod_k: float = LOD_K,
    cv_limit: float = CV_LIMIT,
    confidence: float = 0.95,
    unit: str | None = None,
    n_jobs: int | None = None,
) -> AssayResult:
    """Fit standard curves and back-calculate every well of an assay export.

    Parameters
    ----------
    export
        An :class:`~msclab.io.assay_export.AssayExport` or its tidy table.
        Standards are rows with ``sample_type == "standard"`` and a positive
        ``expected_concentration`` (in-well); blanks (``"blank"``) give the LOD.
    model, weighting, weight_floor
        See :func:`~msclab.assay.curves.fit_curve`.
    mask_outliers
        Mask outlier standards (see :func:`~msclab.assay.qc.calibrate`).
    masked_wells
        ``(plate, well)`` pairs of standards to exclude from the start.
    lod_k
        Blank SDs for the limit of detection.
    cv_limit
        Replicate CV (%) above which in-range wells are flagged ``high_cv``.
    confidence
        Level of the concentration confidence intervals.
    unit
        Concentration unit; by default from the export.
    n_jobs
        Processes fitting the curves; None uses every usable core. Fewer
        are used so that each fits at least :data:`MIN_CURVES_PER_PROCESS`
        curves, and none besides this one off Linux, in a daemon process or
        while other threads run (see :func:`msclab._parallel.fork_map`). The results
        are the same whatever the number of processes.

    Returns
    -------
    AssayResult
    """
    export, table = _prepare(export)
    table["unit"] = _units(export, table, unit)
    masked_wells = masked_wells or set()
    options = {"model": model, "weighting": weighting, "weight_floor": weight_floor,
               "mask_outliers": mask_outliers, "lod_k": lod_k}
    sample_type = table["sample_type"].to_numpy()
    is_standard = sample_type == "standard"
    signal = table["signal"].to_numpy(dtype=float)
    wells = table["well"].to_numpy()
    standard_columns = {name: table[name].array for name in STANDARD_COLUMNS}
    groups = [(key, np.asarray(idx)) for key, idx in table.groupby(["plate", "analyte"], sort=False).groups.items()]
    jobs = []
    for (plate, _), rows in groups:
        std = rows[is_standard[rows]]
        standards = pd.DataFrame({name: column[std] for name, column in standard_columns.items()})
        standards["masked"] = np.array([(plate, w) in masked_wells for w in wells[std]], dtype=bool)
        jobs.append((standards, signal[rows[sample_type[rows] == "blank"]]))
    cals = _calibrate_curves(jobs, options, n_jobs)

    nominal = table["expected_concentration"].to_numpy(dtype=float)
    dilution = table["dilution"].to_numpy(dtype=float)
    units = table["unit"].to_numpy()
    in_well, neat, ci_low, ci_high, recovery = (np.full(len(table), np.nan) for _ in range(5))
    flag, flag_reason, side = (np.full(len(table), "", dtype=object) for _ in range(3))
    calibrations: dict[tuple[str, str], Calibration] = {}
    curve_rows, mask_rows = [], []
    for ((plate, analyte), rows), cal in zip(groups, cals):
        calibrations[(plate, analyte)] = cal
        conc, lo, hi = back_calculate(cal.fit, signal[rows], confidence)
        std = is_standard[rows]
        excluded = cal.standards["well"].to_numpy()[cal.standards["masked"].to_numpy(dtype=bool)]
        masked_now = set(excluded) if cal.fit.ok else set()
        masked = np.array([s and w in masked_now for s, w in zip(std, wells[rows])], dtype=bool)
        flag[rows], flag_reason[rows], side[rows] = _flags(cal, signal[rows], conc, masked)
        dil = dilution[rows]
        in_well[rows], neat[rows], ci_low[rows], ci_high[rows] = conc, conc * dil, lo * dil, hi * dil
        with np.errstate(divide="ignore", invalid="ignore"):
            recovery[rows] = np.where(std, 100.0 * conc / nominal[rows], np.nan)
        curve_rows.append(_curve_row(plate, analyte, cal, units[rows[0]]))
        mask_rows += [{"plate": plate, "analyte": analyte, **m} for m in cal.masks]
    table = table.assign(concentration_in_well=in_well, concentration=neat, ci_low=ci_low, ci_high=ci_high,
                         recovery_pct=recovery, flag=flag, flag_reason=flag_reason, range=side)
    table = _replicates(table, cv_limit)
    settings = {
        "model": model, "weighting": weighting, "weight_floor": weight_floor, "mask_outliers": mask_outliers,
        "lod_k": lod_k, "cv_limit": cv_limit, "confidence": confidence,
    }
    masks = pd.DataFrame(mask_rows, columns=["plate", "analyte", "well", "level", "recovery_pct", "reason"])
    return AssayResult(table, pd.DataFrame(curve_rows), masks, calibrations, settings)


def _calibrate_curves(
    jobs: list[tuple[pd.DataFrame, np.ndarray]], options: dict[str, Any], n_jobs: int | None
) -> list[Calibration]:
    """Calibrate ``(standards, blank signals)`` pairs, in worker processes when there are enough; in order."""
    return fork_map(partial(_calibrate_job, options), jobs, n_jobs=n_jobs, min_per_process=MIN_CURVES_PER_PROCESS)


def _calibrate_job(options: dict[str, Any], job: tuple[pd.DataFrame, np.ndarray]) -> Calibration:
    standards, blanks = job
    return calibrate(standards, blank_signals=blanks, **options)


def _curve_row(plate: str, analyte: str, cal: Calibration, unit: str) -> dict:
    fit = cal.fit
    return {
        "plate": plate,
        "analyte": analyte,
        "model": fit.model,
        "weighting": fit.weighting,
        "params": json.dumps({**fit.params, "equation": EQUATION} if fit.ok else {}),
        "lloq": cal.lloq,
        "uloq": cal.uloq,
        "accepted": cal.accepted,
        "reason": cal.reason,
        "unit": unit,
        "direction": ("rising" if fit.rising else "falling") if fit.ok else "",
        "lod": cal.lod,
        "lod_signal": cal.lod_signal,
        "levels_in_range": cal.levels_in_range,
        "fraction_passing": cal.fraction_passing,
        "n_standards": len(cal.standards),
        "n_masked": int(cal.standards["masked"].sum()),
        "sigma": fit.sigma,
        "hook": cal.hook,
        "warnings": "; ".join(cal.warnings),
    }


def _replicates(table: pd.DataFrame, cv_limit: float) -> pd.DataFrame:
    """Replicate mean/SD/CV of neat concentrations; in-range wells above ``cv_limit`` become ``high_cv``."""
    keys = ["plate", "analyte", "sample_type", "sample_id", "dilution"]
    usable = table["flag"] != "masked"
    named = table["sample_id"] != ""
    conc = table["concentration"].where(usable & named)
    grouped = conc.groupby([table[k] for k in keys])
    table["replicate_n"] = grouped.transform("count")
    table["replicate_mean"] = grouped.transform("mean")
    table["replicate_sd"] = grouped.transform("std")
    table["replicate_cv"] = 100.0 * table["replicate_sd"] / table["replicate_mean"].abs()
    high = (table["flag"] == "ok") & (table["replicate_cv"] > cv_limit)
    table.loc[high, "flag"] = "high_cv"
    table.loc[high, "flag_reason"] = f"replicate CV above {cv_limit:g} %"
    return table
