"""How values outside the quantifiable range enter the statistics.

A concentration flagged ``<LLOQ`` or ``>ULOQ`` is not a measurement; it only
says the truth is below (above) a limit. msclab never uses such a value
silently: a :class:`CensoringRule` says what to put in its place, and every
effect records which rule was used and how many donors it touched.

The default substitutes LLOQ/sqrt(2) for values below the lower limit (a
common convention for left-censored assay data, Hornung & Reed 1990, Appl Occup
Environ Hyg 5:46-51) and the limit itself above the upper limit. The
sensitivity analysis re-runs the statistics with ``drop`` (censored values
removed).

The limit of a censored value is read from ``layers['lloq']`` /
``layers['uloq']`` when present, else from ``var['lloq']`` / ``var['uloq']``,
else the recorded value is taken to be the limit (quantifiers write the limit
as the value of a censored record).

Values flagged ``masked``, ``fit_failed``, ``saturated``, ``low_events`` or
``not_measured``, and samples whose ``obs['status']`` is not ``ok``, are
excluded and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd

from ..readouts import readout_flags

#: Flags whose values are never used.
EXCLUDED_FLAGS = ("masked", "fit_failed", "saturated", "low_events", "not_measured")

_BELOW_FACTOR = {"lloq_sqrt2": 1 / np.sqrt(2), "lloq_half": 0.5, "lloq": 1.0}


@dataclass(frozen=True)
class CensoringRule:
    """What replaces a value outside the quantifiable range.

    Parameters
    ----------
    below
        For ``<LLOQ``: ``lloq_sqrt2`` (LLOQ/sqrt(2), default), ``lloq_half``
        (LLOQ/2), ``lloq`` (the limit) or ``drop`` (excluded).
    above
        For ``>ULOQ``: ``uloq`` (the limit, default) or ``drop``.
    """

    below: Literal["lloq_sqrt2", "lloq_half", "lloq", "drop"] = "lloq_sqrt2"
    above: Literal["uloq", "drop"] = "uloq"

    def describe(self) -> str:
        """Return the rule as a short text for tables and provenance."""
        below = {"lloq_sqrt2": "LLOQ/sqrt(2)", "lloq_half": "LLOQ/2", "lloq": "LLOQ", "drop": "dropped"}[self.below]
        above = {"uloq": "ULOQ", "drop": "dropped"}[self.above]
        return f"<LLOQ -> {below}; >ULOQ -> {above}"


#: The rule of the sensitivity analysis: censored values removed.
DROP_CENSORED = CensoringRule(below="drop", above="drop")


@dataclass
class ValueTable:
    """Sample x readout values ready for the statistics.

    Attributes
    ----------
    values
        Values after the censoring rule; NaN where excluded.
    censored
        True where a value was substituted by the rule.
    excluded
        Per readout: number of values excluded by flag or failed sample.
    rule
        The censoring rule applied.
    """

    values: pd.DataFrame
    censored: pd.DataFrame
    excluded: pd.Series
    rule: CensoringRule = field(default_factory=CensoringRule)


def _limit(readouts: ad.AnnData, name: str, raw: pd.DataFrame) -> pd.DataFrame:
    if name in readouts.layers:
        return pd.DataFrame(np.asarray(readouts.layers[name], dtype=float), index=raw.index, columns=raw.columns)
    if name in readouts.var.columns:
        per_readout = pd.to_numeric(readouts.var[name], errors="coerce")
        limits = pd.DataFrame(np.broadcast_to(per_readout.to_numpy(), raw.shape), index=raw.index, columns=raw.columns)
        return limits.where(limits.notna(), raw)
    return raw


def apply_censoring(readouts: ad.AnnData, rule: CensoringRule | None = None) -> ValueTable:
    """Return the readout values with flagged values handled by ``rule``.

    Parameters
    ----------
    readouts
        The sample x readout AnnData (:func:`msclab.readouts.build_readouts`).
    rule
        The censoring rule; default LLOQ/sqrt(2) below, ULOQ above.

    Returns
    -------
    ValueTable
    """
    rule = rule or CensoringRule()
    raw = pd.DataFrame(np.asarray(readouts.X, dtype=float), index=readouts.obs_names, columns=readouts.var_names)
    flags = readout_flags(readouts)
    values = raw.copy()

    below = flags == "<LLOQ"
    above = flags == ">ULOQ"
    if rule.below == "drop":
        values = values.mask(below)
    else:
        values = values.mask(below, _limit(readouts, "lloq", raw) * _BELOW_FACTOR[rule.below])
    if rule.above == "drop":
        values = values.mask(above)
    else:
        values = values.mask(above, _limit(readouts, "uloq", raw))

    failed = readouts.obs.get("status", pd.Series("ok", index=readouts.obs_names)).astype(str) != "ok"
    excluded = flags.isin(EXCLUDED_FLAGS) & ~(flags == "not_measured")
    excluded |= pd.DataFrame(np.broadcast_to(failed.to_numpy()[:, None], raw.shape), index=raw.index, columns=raw.columns) & (flags != "not_measured")
    values = values.mask(flags.isin(EXCLUDED_FLAGS)).mask(excluded)
    censored = (below | above) & values.notna()
    return ValueTable(values=values, censored=censored, excluded=excluded.sum(axis=0), rule=rule)
