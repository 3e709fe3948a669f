"""Each treated sample against its matched control, within donor.

For every sample selected by a contrast's ``treatment``, the matched controls
are the ``control`` samples of the same donor (``pair_by``) that share every
``match_on`` column (stimulus, timepoint, ...); among them, those that also share
the ``prefer_same`` columns (the plate) are used when there are any. Replicate
controls are averaged. The effect of one treated sample is then, by readout kind:

============== ====================== ==================================================
kind           scale                  effect
============== ====================== ==================================================
concentration  ``log2_fc``            log2(treated / control)
mfi, count,    ``log2_fc``            log2(treated / control)
ratio
frequency      ``log2_ratio``         log2(treated / control); also ``diff_pp`` =
                                      treated - control in percentage points
proliferation  ``pct_suppression``    100 * (1 - (treated - bg) / (control - bg)), bg =
                                      the unstimulated background when the contrast
                                      names one (msc_catalogue.md section 3.3), else 0
============== ====================== ==================================================

A log ratio of a non-positive value, or a suppression whose control does not
exceed its background, is undefined: the effect is NaN and ``note`` says why.
:func:`donor_effects` averages the sample effects of each donor, the unit of
every test downstream.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from ..errors import MsclabError
from ..experiment.contrasts import Contrast, select
from ..readouts import readout_flags
from .censoring import CensoringRule, ValueTable, apply_censoring

#: Effect scale per readout kind.
SCALES = {
    "concentration": "log2_fc",
    "mfi": "log2_fc",
    "count": "log2_fc",
    "ratio": "log2_fc",
    "frequency": "log2_ratio",
    "proliferation": "pct_suppression",
}

#: obs columns describing the MSC arm, carried into the effects for the modifiers.
#: Note of a paired effect whose treated or control value carries the ``control_fallback`` flag.
FALLBACK_NOTE = "control_fallback: a control-based threshold had no control sample and fell back"
ARM_COLUMNS = ("msc_ratio", "culture", "msc_source", "msc_licensing")


def _match(obs: pd.DataFrame, sample: str, pool: pd.Index, on: list[str], prefer: list[str]) -> pd.Index:
    row = obs.loc[sample]
    keep = pool
    for col in on:
        keep = keep[obs.loc[keep, col].astype(str) == str(row[col])]
    preferred = keep
    for col in prefer:
        preferred = preferred[obs.loc[preferred, col].astype(str) == str(row[col])]
    return preferred if len(preferred) else keep


def _check_columns(obs: pd.DataFrame, contrast: Contrast) -> None:
    missing = [c for c in contrast.columns() if c not in obs.columns]
    if missing:
        raise MsclabError(
            f"contrast {contrast.name!r} needs the obs columns {missing}, which the samplesheet lacks",
            hint="Add them to the samplesheet or remove them from match_on / prefer_same.",
        )


def _log2(num: np.ndarray, den: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = (num > 0) & (den > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(ok, np.log2(np.where(ok, num, 1.0) / np.where(ok, den, 1.0)), np.nan)
    bad = ~ok & ~np.isnan(num) & ~np.isnan(den)
    return out, bad


def paired_effects(
    readouts: ad.AnnData,
    contrast: Contrast,
    *,
    censoring: CensoringRule | None = None,
    table: ValueTable | None = None,
) -> pd.DataFrame:
    """Return one row per treated sample x readout with its matched-control effect.

    Parameters
    ----------
    readouts
        The sample x readout AnnData.
    contrast
        Which samples are treated, which are controls, how they pair.
    censoring
        Rule for ``<LLOQ`` / ``>ULOQ`` values (ignored when ``table`` is given).
    table
        Values already passed through :func:`~msclab.normalise.censoring.apply_censoring`.

    Returns
    -------
    DataFrame
        Columns ``contrast, readout, kind, unit, catalogue_id, donor, sample_id,
        control_ids, background_ids, treated, control, background, scale, effect,
        diff_pp, censored, note`` and the MSC-arm columns of :data:`ARM_COLUMNS`
        present in ``obs``.
    """
    obs = readouts.obs
    _check_columns(obs, contrast)
    table = table or apply_censoring(readouts, censoring)
    values, censored = table.values, table.censored
    ok = obs.get("status", pd.Series("ok", index=obs.index)).astype(str) == "ok"
    treated = obs.index[select(obs, contrast.treatment, contrast=contrast.name) & ok]
    controls = obs.index[select(obs, contrast.control, contrast=contrast.name) & ok]
    backgrounds = (
        obs.index[select(obs, contrast.background, contrast=contrast.name, controls=True) & ok]
        if contrast.background
        else pd.Index([])
    )
    overlap = treated.intersection(controls)
    if len(overlap):
        raise MsclabError(
            f"contrast {contrast.name!r}: samples {list(overlap[:5])} are selected both as treated and as control",
            hint="Make the treatment and control selectors exclusive.",
        )
    fallback = readout_flags(readouts) == "control_fallback"
    var = readouts.var
    kinds = var["kind"].astype(str)
    scales = kinds.map(SCALES)
    is_prolif = (kinds == "proliferation").to_numpy()
    is_freq = (kinds == "frequency").to_numpy()
    bg_on = [c for c in contrast.match_on if c != "stimulus"]
    arm = [c for c in ARM_COLUMNS if c in obs.columns]

    rows = []
    for sample in treated:
        pool = controls[obs.loc[controls, contrast.pair_by].astype(str) == str(obs.loc[sample, contrast.pair_by])]
        matched = _match(obs, sample, pool, contrast.match_on, contrast.prefer_same)
        if not len(matched):
            continue
        bg_pool = backgrounds[
            obs.loc[backgrounds, contrast.pair_by].astype(str) == str(obs.loc[sample, contrast.pair_by])
        ]
        bg = _match(obs, sample, bg_pool, bg_on, contrast.prefer_same) if len(bg_pool) else bg_pool
        t = values.loc[sample].to_numpy()
        c = values.loc[matched].mean(axis=0, skipna=True).to_numpy()
        b = values.loc[bg].mean(axis=0, skipna=True).to_numpy() if len(bg) else np.zeros_like(t)
        cens = censored.loc[sample].to_numpy() | censored.loc[matched].any(axis=0).to_numpy()
        if len(bg):
            cens |= censored.loc[bg].any(axis=0).to_numpy()

        log_effect, bad_log = _log2(t, c)
        span = c - b
        with np.errstate(divide="ignore", invalid="ignore"):
            suppression = np.where(span > 0, 100.0 * (1.0 - (t - b) / span), np.nan)
        bad_supp = ~(span > 0) & ~np.isnan(span) & ~np.isnan(t)
        effect = np.where(is_prolif, suppression, log_effect)
        note = np.where(
            is_prolif & bad_supp,
            "control not above background",
            np.where(~is_prolif & bad_log, "non-positive value: log ratio undefined", ""),
        )
        fell_back = fallback.loc[sample].to_numpy() | fallback.loc[matched].any(axis=0).to_numpy()
        note = np.where(fell_back, np.char.add(note.astype(str), np.where(note != "", "; ", "")) + FALLBACK_NOTE, note)
        frame = pd.DataFrame(
            {
                "contrast": contrast.name,
                "readout": readouts.var_names,
                "kind": kinds.to_numpy(),
                "unit": var["unit"].astype(str).to_numpy(),
                "catalogue_id": var.get("catalogue_id", pd.Series("", index=var.index)).astype(str).to_numpy(),
                "donor": str(obs.loc[sample, contrast.pair_by]),
                "sample_id": sample,
                "control_ids": ";".join(matched),
                "background_ids": ";".join(bg) if is_prolif.any() else "",
                "treated": t,
                "control": c,
                "background": np.where(is_prolif, b, np.nan),
                "scale": scales.to_numpy(),
                "effect": effect,
                "diff_pp": np.where(is_freq, t - c, np.nan),
                "censored": cens,
                "note": note,
            }
        )
        for col in arm:
            frame[col] = str(obs.loc[sample, col])
        rows.append(frame[~(np.isnan(t) & np.isnan(c))])
    if not rows:
        return pd.DataFrame(
            columns=[
                "contrast", "readout", "kind", "unit", "catalogue_id", "donor", "sample_id", "control_ids",
                "background_ids", "treated", "control", "background", "scale", "effect", "diff_pp",
                "censored", "note", *arm,
            ]
        )
    return pd.concat(rows, ignore_index=True)


def donor_effects(paired: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Average the sample effects of each donor (the unit of analysis).

    Parameters
    ----------
    paired
        Output of :func:`paired_effects`.
    by
        Extra columns to keep apart (e.g. ``("msc_ratio",)`` for a dose trend).

    Returns
    -------
    DataFrame
        One row per ``contrast, readout, *by, donor`` with the mean ``effect`` and
        ``diff_pp`` over the donor's treated samples, ``censored`` (any value
        substituted) and ``n_samples``.
    """
    keys = ["contrast", "readout", *by, "donor"]
    if paired.empty:
        return pd.DataFrame(columns=[*keys, "kind", "unit", "catalogue_id", "scale", "effect", "diff_pp", "censored", "n_samples"])
    grouped = paired.groupby(keys, sort=False, dropna=False)
    out = grouped.agg(
        kind=("kind", "first"),
        unit=("unit", "first"),
        catalogue_id=("catalogue_id", "first"),
        scale=("scale", "first"),
        effect=("effect", "mean"),
        diff_pp=("diff_pp", "mean"),
        censored=("censored", "any"),
        n_samples=("effect", "count"),
    )
    return out.reset_index()
