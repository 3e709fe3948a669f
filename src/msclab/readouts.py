"""The sample x readout matrix where flow and cytokine results meet.

Every quantifier (flow populations, MFIs, proliferation, cytokine
concentrations) produces a *long* table of records; :func:`build_readouts`
pivots those records into one AnnData:

- ``obs``: one row per sample (the samplesheet columns, plus ``status`` and
  ``status_reason``: a failed sample is listed, never dropped);
- ``var``: one row per readout, with ``kind``, ``unit`` and whatever the
  quantifier knows (``panel``, ``population``, ``parent``, ``marker``,
  ``analyte``, ``statistic``, ``catalogue_id``);
- ``X``: the values (float64, NaN where not measured);
- ``layers['flag']``: one flag code per value, decoded by
  ``uns['flag_levels']`` (``ok``, ``<LLOQ``, ``>ULOQ``, ...);
- ``layers['lloq']``, ``layers['uloq']``: the value's quantification limits,
  when the records give them (concentrations).

Normalisation and comparison read only this object.
"""

from __future__ import annotations

from collections.abc import Iterable

import anndata as ad
import numpy as np
import pandas as pd

from .errors import MsclabError

#: The kinds of readout msclab produces.
READOUT_KINDS = ("frequency", "count", "mfi", "proliferation", "concentration", "ratio")

#: Every flag a value can carry. ``ok`` is code 0.
FLAG_LEVELS = (
    "ok",
    "<LLOQ",
    ">ULOQ",
    "extrapolated",
    "high_cv",
    "masked",
    "saturated",
    "fit_failed",
    "low_events",
    "not_measured",
    "control_fallback",
)

RECORD_COLUMNS = ("sample_id", "readout", "value", "kind", "unit")
#: Optional per-value quantification limits, kept as layers for the censoring rule.
LIMIT_COLUMNS = ("lloq", "uloq")
VAR_COLUMNS = (
    "kind", "unit", "panel", "population", "parent", "marker", "analyte",
    "statistic", "catalogue_id",
)


def flag_code(flag: str) -> int:
    """Return the integer code of a flag name."""
    try:
        return FLAG_LEVELS.index(flag)
    except ValueError:
        raise MsclabError(
            f"unknown flag {flag!r}", hint=f"Use one of: {', '.join(FLAG_LEVELS)}."
        ) from None


def build_readouts(samples: pd.DataFrame, records: pd.DataFrame | Iterable[dict]) -> ad.AnnData:
    """Pivot long readout records into the sample x readout AnnData.

    Parameters
    ----------
    samples
        One row per sample, indexed by ``sample_id`` (or with a ``sample_id``
        column). Every sample appears in the result, measured or not.
    records
        Long table with at least ``sample_id, readout, value, kind, unit``;
        optional ``flag`` (default ``ok``) and the annotation columns of
        :data:`VAR_COLUMNS`.

    Returns
    -------
    AnnData
        obs = samples, var = readouts, X = values, ``layers['flag']`` = flag codes.
    """
    obs = samples.copy()
    if "sample_id" in obs.columns:
        obs = obs.set_index("sample_id", drop=False)
    obs.index = obs.index.astype(str)
    obs.index.name = None
    if "status" not in obs.columns:
        obs["status"] = "ok"
    if "status_reason" not in obs.columns:
        obs["status_reason"] = ""

    table = pd.DataFrame(records)
    if table.empty:
        table = pd.DataFrame(columns=[*RECORD_COLUMNS, "flag"])
    missing = [c for c in RECORD_COLUMNS if c not in table.columns]
    if missing:
        raise MsclabError(f"readout records lack the columns {missing}")
    unknown = sorted(set(table["sample_id"].astype(str)) - set(obs.index))
    if unknown:
        raise MsclabError(f"readout records name samples that are not in the samplesheet: {unknown[:5]}")
    bad_kind = sorted(set(table["kind"]) - set(READOUT_KINDS))
    if bad_kind:
        raise MsclabError(f"unknown readout kind(s) {bad_kind}", hint=f"Use one of {READOUT_KINDS}.")
    if "flag" not in table.columns:
        table["flag"] = "ok"
    table["flag"] = table["flag"].fillna("ok")
    dup = table.duplicated(["sample_id", "readout"])
    if dup.any():
        first = table.loc[dup].iloc[0]
        raise MsclabError(
            f"readout {first['readout']!r} is given twice for sample {first['sample_id']!r}"
        )

    readout_ids = list(dict.fromkeys(table["readout"]))
    var = (
        table.drop(columns=[c for c in LIMIT_COLUMNS if c in table.columns]).drop_duplicates("readout")
        .set_index("readout")
        .reindex(readout_ids)
        .reindex(columns=list(VAR_COLUMNS))
    )
    var = var.astype(object).where(var.notna(), "").astype(str)
    var.index.name = None

    row = obs.index.get_indexer(table["sample_id"].astype(str))
    col = pd.Index(readout_ids).get_indexer(table["readout"])
    values = np.full((len(obs), len(readout_ids)), np.nan)
    values[row, col] = pd.to_numeric(table["value"], errors="coerce").to_numpy(dtype=float)
    flags = np.full(values.shape, flag_code("not_measured"), dtype=np.int8)
    flags[row, col] = [flag_code(f) for f in table["flag"]]

    adata = ad.AnnData(X=values, obs=obs, var=var)
    adata.layers["flag"] = flags
    for limit in LIMIT_COLUMNS:
        if limit in table.columns and pd.to_numeric(table[limit], errors="coerce").notna().any():
            layer = np.full(values.shape, np.nan)
            layer[row, col] = pd.to_numeric(table[limit], errors="coerce").to_numpy(dtype=float)
            adata.layers[limit] = layer
    adata.uns["flag_levels"] = list(FLAG_LEVELS)
    return adata


def readout_flags(adata: ad.AnnData) -> pd.DataFrame:
    """Return the flags of a readouts AnnData as a DataFrame of flag names."""
    levels = np.asarray(adata.uns.get("flag_levels", FLAG_LEVELS))
    return pd.DataFrame(levels[adata.layers["flag"]], index=adata.obs_names, columns=adata.var_names)


def to_long(adata: ad.AnnData) -> pd.DataFrame:
    """Return the readouts as a tidy long table (one row per sample x readout measured)."""
    values = pd.DataFrame(adata.X, index=adata.obs_names, columns=adata.var_names)
    flags = readout_flags(adata)
    long = values.stack(future_stack=True).rename("value").to_frame()
    long["flag"] = flags.stack(future_stack=True)
    long = long[long["flag"] != "not_measured"].reset_index()
    long.columns = ["sample_id", "readout", "value", "flag"]
    return long.merge(adata.var, left_on="readout", right_index=True, how="left")
