"""Paired effects per readout x contrast: the ``effects.csv`` table.

For every contrast, each treated sample is compared with its matched control
within donor (:mod:`msclab.normalise.controls`), sample effects are averaged
per donor, and the donor effects are summarised (:mod:`msclab.stats.paired`):
mean, paired-t 95% CI, bootstrap-over-donors 95% CI, paired t and Wilcoxon
signed-rank p-values. Benjamini-Hochberg q-values are computed across the
readouts of each contrast (one family per contrast). A sensitivity analysis
repeats the estimate with censored (<LLOQ, >ULOQ) values dropped. When
replicates are nested in donors, a random-donor-intercept mixed model of the
per-pair effects (:mod:`msclab.stats.mixed`) is reported next to it.

See ``docs/statistics.md`` for the choices and their references.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import anndata as ad
import numpy as np
import pandas as pd

from ..errors import MsclabError
from ..normalise import controls
from ..normalise.censoring import DROP_CENSORED, CensoringRule, apply_censoring
from ..experiment.contrasts import Contrast
from .fdr import bh_qvalues
from .mixed import mixed_effects
from .paired import bootstrap_interval, t_stats, wilcoxon_p

#: Columns of ``effects.csv`` that scripts rely on (design contract), first.
EFFECT_COLUMNS = ("readout", "contrast", "estimate", "ci_low", "ci_high", "p_value", "q_value", "n_donors", "unit")


def _wide(donors: pd.DataFrame, column: str, readouts: list[str]) -> pd.DataFrame:
    return donors.set_index(["readout", "donor"])[column].unstack("donor").reindex(readouts)


def _arm(samples: pd.DataFrame, col: str) -> str:
    if col not in samples.columns:
        return ""
    return ";".join(sorted(set(samples[col].astype(str)) - {""}))


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
    if donors.empty:
        return pd.DataFrame()
    names = list(dict.fromkeys(donors["readout"]))
    effect = _wide(donors, "effect", names)
    main = t_stats(effect.to_numpy(float), confidence)
    pp = t_stats(_wide(donors, "diff_pp", names).to_numpy(float), confidence)
    censored = _wide(donors.assign(censored=donors["censored"].astype(float)), "censored", names)
    first = donors.drop_duplicates("readout").set_index("readout").reindex(names)
    samples = dict(tuple(paired.groupby("readout", sort=False)))

    out = pd.DataFrame(
        {
            "readout": names,
            "contrast": contrast.name,
            "estimate": main.mean,
            "ci_low": main.ci_low,
            "ci_high": main.ci_high,
            "p_value": main.p_value,
            "q_value": bh_qvalues(main.p_value),
            "n_donors": main.n,
            "unit": first["unit"].to_numpy(),
            "scale": first["scale"].to_numpy(),
            "kind": first["kind"].to_numpy(),
            "catalogue_id": first["catalogue_id"].to_numpy(),
        }
    )
    boot, wilcoxon, donor_values = [], [], []
    for i, (name, row) in enumerate(effect.iterrows()):
        values = row.dropna()
        boot.append(bootstrap_interval(values.to_numpy(), n_boot=n_boot, confidence=confidence,
                                       rng=np.random.default_rng([seed, i])))
        wilcoxon.append(wilcoxon_p(values.to_numpy()))
        donor_values.append(json.dumps({str(d): round(float(v), 10) for d, v in values.items()}))
    out["ci_low_boot"] = [b[0] for b in boot]
    out["ci_high_boot"] = [b[1] for b in boot]
    out["p_wilcoxon"] = wilcoxon
    out["q_wilcoxon"] = bh_qvalues(np.asarray(wilcoxon, dtype=float))
    out["sd_donors"] = main.sd
    out["diff_pp"] = pp.mean
    out["diff_pp_ci_low"] = pp.ci_low
    out["diff_pp_ci_high"] = pp.ci_high
    out["treated_mean"] = [samples[r]["treated"].mean() for r in names]
    out["control_mean"] = [samples[r]["control"].mean() for r in names]
    out["n_censored"] = (censored.where(effect.notna()).fillna(0).sum(axis=1)).astype(int).to_numpy()
    out["censoring"] = censoring.describe()
    out["n_excluded"] = [int(table.excluded.get(r, 0)) for r in names]
    out["notes"] = ["; ".join(sorted(set(samples[r]["note"]) - {""})) for r in names]
    if sensitivity:
        drop = controls.donor_effects(
            controls.paired_effects(readouts, contrast, table=apply_censoring(readouts, DROP_CENSORED))
        )
        sens = t_stats(_wide(drop, "effect", names).to_numpy(float) if not drop.empty
                       else np.full((len(names), 1), np.nan), confidence)
        out["sensitivity_estimate"] = sens.mean
        out["sensitivity_ci_low"] = sens.ci_low
        out["sensitivity_ci_high"] = sens.ci_high
        out["sensitivity_n_donors"] = sens.n
    for col in controls.ARM_COLUMNS:
        out[col] = [_arm(samples[r], col) for r in names]
    out["donor_values"] = donor_values
    return pd.concat([out, mixed_effects(paired, names, confidence)], axis=1)


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
        One :class:`~msclab.experiment.contrasts.Contrast` or several.
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
        ``pct_suppression``), ``kind``, ``catalogue_id``, the bootstrap
        interval, Wilcoxon p/q, the percentage-point difference of frequencies
        with its CI, censoring counts and rule, the sensitivity analysis, the
        MSC-arm description (``msc_ratio``, ``culture``, ``msc_source``,
        ``msc_licensing``), ``donor_values`` (JSON of the donor effects, used
        by the comparison's bootstrap) and the mixed-model columns of
        :data:`~msclab.stats.mixed.MIXED_COLUMNS` (NaN unless a donor has
        replicate pairs).
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
