"""Paired effects per readout x contrast: the ``effects.csv`` table.

For every contrast, each treated sample is compared with its matched control
within donor (:mod:`msclab.normalise.controls`), sample effects are averaged
per donor, and the donor effects are summarised (:mod:`msclab.stats.paired`):
mean, paired-t 95% CI, bootstrap-over-donors 95% CI, paired t and Wilcoxon
signed-rank p-values. Benjamini-Hochberg q-values are computed across the
readouts of each contrast (one family per contrast). A sensitivity analysis
repeats the estimate with censored (<LLOQ, >ULOQ) values dropped.

See ``docs/statistics.md`` for the choices and their references.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import anndata as ad
import numpy as np
import pandas as pd

from ..errors import MsclabError
from ..normalise.censoring import DROP_CENSORED, CensoringRule, apply_censoring
from ..normalise import controls  # module import: controls itself imports stats.contrasts
from .contrasts import Contrast
from .fdr import bh_qvalues
from .paired import summarise, t_interval

#: Columns of ``effects.csv`` that scripts rely on (design contract), first.
EFFECT_COLUMNS = ("readout", "contrast", "estimate", "ci_low", "ci_high", "p_value", "q_value", "n_donors", "unit")


def _arm(paired: pd.DataFrame, col: str) -> str:
    if col not in paired.columns:
        return ""
    return ";".join(sorted(set(paired[col].astype(str)) - {""}))


def _one_contrast(
    readouts: ad.AnnData,
    contrast: Contrast,
    censoring: CensoringRule,
    *,
    confidence: float,
    n_boot: int,
    seed: int,
    sensitivity: bool,
) -> pd.DataFrame:
    table = apply_censoring(readouts, censoring)
    paired = controls.paired_effects(readouts, contrast, table=table)
    donors = controls.donor_effects(paired)
    drop = (
        controls.donor_effects(controls.paired_effects(readouts, contrast, table=apply_censoring(readouts, DROP_CENSORED)))
        if sensitivity
        else None
    )
    by_readout = dict(tuple(paired.groupby("readout", sort=False)))
    dropped = dict(tuple(drop.groupby("readout", sort=False))) if drop is not None else {}
    rows = []
    for i, (readout, group) in enumerate(donors.groupby("readout", sort=False)):
        rng = np.random.default_rng([seed, i])
        res = summarise(group["effect"].to_numpy(float), confidence=confidence, n_boot=n_boot, rng=rng)
        pp_mean, pp_low, pp_high = t_interval(group["diff_pp"].to_numpy(float), confidence)
        sample_rows = by_readout[readout]
        valid = group.dropna(subset=["effect"])
        row = {
            "readout": readout,
            "contrast": contrast.name,
            "estimate": res.estimate,
            "ci_low": res.ci_low,
            "ci_high": res.ci_high,
            "p_value": res.p_value,
            "q_value": np.nan,
            "n_donors": res.n_donors,
            "unit": group["unit"].iloc[0],
            "scale": group["scale"].iloc[0],
            "kind": group["kind"].iloc[0],
            "catalogue_id": group["catalogue_id"].iloc[0],
            "ci_low_boot": res.boot_low,
            "ci_high_boot": res.boot_high,
            "p_wilcoxon": res.p_wilcoxon,
            "q_wilcoxon": np.nan,
            "sd_donors": res.sd,
            "diff_pp": pp_mean,
            "diff_pp_ci_low": pp_low,
            "diff_pp_ci_high": pp_high,
            "treated_mean": float(sample_rows["treated"].mean()),
            "control_mean": float(sample_rows["control"].mean()),
            "n_censored": int(valid["censored"].sum()),
            "censoring": censoring.describe(),
            "n_excluded": int(table.excluded.get(readout, 0)),
            "notes": "; ".join(sorted(set(sample_rows["note"]) - {""})),
            "donor_values": json.dumps({d: round(float(v), 10) for d, v in zip(valid["donor"], valid["effect"])}),
        }
        if drop is not None:
            d = dropped[readout]["effect"].to_numpy(float) if readout in dropped else np.array([])
            mean, low, high = t_interval(d, confidence)
            row.update(
                sensitivity_estimate=mean,
                sensitivity_ci_low=low,
                sensitivity_ci_high=high,
                sensitivity_n_donors=int(np.sum(~np.isnan(d))),
            )
        for col in controls.ARM_COLUMNS:
            row[col] = _arm(sample_rows, col)
        rows.append(row)
    out = pd.DataFrame(rows)
    if not out.empty:
        out["q_value"] = bh_qvalues(out["p_value"].to_numpy(float))
        out["q_wilcoxon"] = bh_qvalues(out["p_wilcoxon"].to_numpy(float))
    return out


def estimate_effects(
    readouts: ad.AnnData,
    contrasts: Contrast | Iterable[Contrast],
    *,
    censoring: CensoringRule | None = None,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
    sensitivity: bool = True,
) -> pd.DataFrame:
    """Return the paired effect of every readout in every contrast.

    Parameters
    ----------
    readouts
        The sample x readout AnnData.
    contrasts
        One :class:`~msclab.stats.contrasts.Contrast` or several.
    censoring
        Rule for ``<LLOQ`` / ``>ULOQ`` values; default LLOQ/sqrt(2) and ULOQ.
    confidence
        Level of the confidence intervals.
    n_boot
        Bootstrap resamples over donors.
    seed
        Seed of the bootstrap; results are identical for identical inputs and seed.
    sensitivity
        Also estimate with censored values dropped (``sensitivity_*`` columns).

    Returns
    -------
    DataFrame
        One row per readout x contrast: the columns of :data:`EFFECT_COLUMNS`
        first, then ``scale`` (``log2_fc``, ``log2_ratio`` or
        ``pct_suppression``), ``kind``, ``catalogue_id``, bootstrap interval,
        Wilcoxon p/q, the percentage-point difference of frequencies, censoring
        counts and rule, the MSC-arm description and ``donor_values`` (JSON of
        the donor effects, used by the comparison's bootstrap).
    """
    contrasts = [contrasts] if isinstance(contrasts, Contrast) else list(contrasts)
    names = [c.name for c in contrasts]
    if len(set(names)) != len(names):
        raise MsclabError(f"contrast names must be unique; got {names}")
    rule = censoring or CensoringRule()
    parts = [
        _one_contrast(readouts, c, rule, confidence=confidence, n_boot=n_boot, seed=seed, sensitivity=sensitivity)
        for c in contrasts
    ]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=list(EFFECT_COLUMNS))
    return pd.concat(parts, ignore_index=True)
