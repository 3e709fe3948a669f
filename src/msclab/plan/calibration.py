"""Endpoint models estimated from an earlier ``msclab analyze`` output folder: :func:`from_analysis`."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import MsclabError
from .simulator import technical_sd
from .sources import _CONC, _FREQ, _PROLIF, PARENT_SHARE, PROLIFERATION, EffectModel, default_models


def _read(folder: Path, name: str, required: tuple[str, ...]):
    import pandas as pd

    path = folder / name
    if not path.is_file():
        return None
    frame = pd.read_csv(path)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise MsclabError(f"{path}: columns {missing} are missing",
                          hint="Point --from at an output folder written by `msclab analyze`.")
    return frame


def _ratio_weight_of(row) -> float:
    from ..simulate.effects import ratio_weight
    from .design import parse_ratio

    for col in ("msc_ratio",):
        value = row.get(col)
        if isinstance(value, str) and ":" in value:
            try:
                return ratio_weight(parse_ratio(value.split(";")[0]))
            except MsclabError:
                continue
    return 1.0


def from_analysis(folder: str | Path, base: dict[str, EffectModel] | None = None) -> tuple[dict[str, EffectModel], list[str]]:
    """Estimate effect sizes and variances from an earlier ``analyze`` output folder.

    - effect at 1:10 and donor SD from ``effects.csv`` (``estimate``,
      ``sd_donors``; a contrast at another ratio is scaled back to 1:10 with
      :func:`msclab.simulate.effects.ratio_weight`); the binomial and culture
      variance the model adds itself is subtracted from the observed donor
      variance, so only the biological donor SD is kept;
    - events per parent from ``populations.csv`` (median ``count`` of the CD4 /
      CD8 T-cell gates over the median count of the top gate);
    - assay CV from duplicate wells in ``concentrations.csv`` (unknowns), and the
      fractions below LLOQ and above ULOQ (``flag`` ``<LLOQ`` / ``>ULOQ``), which set the
      limits relative to the control distribution; the measured CV then replaces the
      simulated kit's 4PL read (the lab's own curve is not known).

    Returns
    -------
    models, notes
        The estimated models and one note per estimate or default kept.

    Raises
    ------
    MsclabError
        When the folder or its ``effects.csv`` is missing or malformed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MsclabError(f"--from {folder}: no such folder", hint="Give the -o folder of an earlier `msclab analyze`.")
    effects = _read(folder, "effects.csv", ("readout", "contrast", "estimate", "n_donors"))
    if effects is None:
        raise MsclabError(f"{folder}: effects.csv is missing", hint="Give the -o folder of an earlier `msclab analyze`.")
    models = dict(base or default_models())
    notes: list[str] = []
    pops = _read(folder, "populations.csv", ("sample_id", "population", "count"))
    events = None
    if pops is not None:
        models, more, events = _parent_shares(pops, models, folder)
        notes += more
    else:
        notes.append(f"{folder}/populations.csv missing: events per parent from the defaults, "
                     "20,000 events per tube assumed when splitting the donor SD")
    conc = _read(folder, "concentrations.csv", ("sample_id", "sample_type", "analyte", "concentration", "flag"))
    if conc is not None:
        models, more = _assay(conc, models, folder)
        notes += more
    else:
        notes.append(f"{folder}/concentrations.csv missing: assay CV and LLOQ from the defaults")
    if "catalogue_id" not in effects.columns:
        raise MsclabError(f"{folder}/effects.csv has no catalogue_id column",
                          hint="Re-run `msclab analyze` with this msclab version.")
    for eid, rows in effects.dropna(subset=["estimate"]).groupby("catalogue_id"):
        if eid not in models:
            continue
        m = models[eid]
        weights = [(row, _ratio_weight_of(row)) for row in rows.to_dict("records")]
        weights = [(row, w) for row, w in weights if w > 0]
        per = 100.0 if m.kind == PROLIFERATION else 1.0
        if not weights:
            continue
        size = float(np.mean([float(row["estimate"]) / per / w for row, w in weights]))
        sds = []
        for row, w in weights:
            sd = float(row.get("sd_donors", np.nan)) / per
            if np.isfinite(sd):
                tech = technical_sd(replace(m, size=size), w, events)
                sds.append(math.sqrt(max(sd**2 - tech**2, 0.0)) / w)
        donor_sd = float(np.median(sds)) if sds else m.donor_sd
        if sds and donor_sd == 0:
            notes.append(f"{eid}: the observed donor SD is no larger than the culture, counting and assay noise "
                         "the model adds itself: biological donor SD set to 0")
        label = ", ".join(sorted(set(rows["contrast"].astype(str))))
        models[eid] = replace(m, size=size, donor_sd=donor_sd,
                              source=f"effect and donor SD estimated from {folder}/effects.csv ({label}, "
                                     f"n_donors {int(rows['n_donors'].max())}); " + m.source)
        notes.append(f"{eid}: effect at 1:10 {size:+.3g}, biological donor SD {donor_sd:.3g} from effects.csv")
    return models, notes


def _parent_shares(pops, models: dict[str, EffectModel], folder: Path) -> tuple[dict[str, EffectModel], list[str], float | None]:
    pops = pops.assign(population=pops["population"].astype(str), depth=pops["population"].astype(str).str.count("/"))
    top = pops[pops["depth"] == pops.groupby("sample_id")["depth"].transform("min")]
    # events acquired: the top gate's parent count when recorded (its parent is the whole file), else its count
    col = "parent_count" if "parent_count" in top.columns and top["parent_count"].notna().all() else "count"
    total = float(top.groupby("sample_id")[col].max().median())
    leaf = pops["population"].str.rsplit("/", n=1).str[-1].str.lower()
    notes, shares = [f"{total:,.0f} events per tube (populations.csv, median over samples)"], {}
    for parent in ("CD4", "CD8"):
        hits = pops[leaf.isin({parent.lower(), f"{parent.lower()}+", f"{parent.lower()} t", f"{parent.lower()}_t"})]
        if total > 0 and len(hits):
            shares[parent] = float(hits.groupby("sample_id")["count"].max().median()) / total
            notes.append(f"{parent} T cells are {shares[parent]:.3f} of events (populations.csv, median over samples)")
        else:
            notes.append(f"no {parent} gate found in {folder}/populations.csv: default share {PARENT_SHARE[parent]:.3f}")
    out = {}
    for eid, m in models.items():
        parent = (_FREQ.get(eid) or _PROLIF.get(eid) or (None, None))[1]
        out[eid] = replace(m, parent_share=shares[parent],
                           source=m.source + f"; events per {parent} from {folder}/populations.csv") \
            if parent in shares else m
    return out, notes, (total if total > 0 else None)


def _assay(conc, models: dict[str, EffectModel], folder: Path) -> tuple[dict[str, EffectModel], list[str]]:
    unknown = conc[conc["sample_type"].astype(str) == "unknown"]
    notes, out = [], dict(models)
    key = {v.lower().replace("-", "").replace("γ", "g").replace("α", "a"): k for k, v in _CONC.items()}
    for analyte, rows in unknown.groupby("analyte"):
        eid = key.get(str(analyte).lower().replace("-", "").replace("γ", "g").replace("α", "a"))
        if eid not in out:
            continue
        m = out[eid]
        ok = rows[rows["flag"].fillna("").astype(str).isin(["", "ok"]) & (rows["concentration"] > 0)]
        dup = ok.groupby("sample_id")["concentration"].agg(["mean", "std", "size"])
        dup = dup[dup["size"] >= 2]
        cv = float(np.sqrt(np.mean((dup["std"] / dup["mean"]) ** 2))) if len(dup) else m.assay_cv
        flags = rows["flag"].fillna("").astype(str)
        frac_below = float(flags.str.contains("<LLOQ", regex=False).groupby(rows["sample_id"]).any().mean())
        frac_above = float(flags.str.contains(">ULOQ", regex=False).groupby(rows["sample_id"]).any().mean())
        from scipy import stats

        # the limits that leave these fractions of log-normal control values outside them
        lloq = float(m.baseline * math.exp(m.baseline_sd * stats.norm.ppf(frac_below))) if frac_below > 0 else m.lloq
        uloq = float(m.baseline * math.exp(m.baseline_sd * stats.norm.isf(frac_above))) if frac_above > 0 else m.uloq
        # the lab's own kit is unknown: its measured duplicate CV replaces the simulated kit's curve
        out[eid] = replace(m, assay_cv=cv, lloq=lloq, uloq=uloq, curve=None,
                           source=m.source + f"; assay CV {cv:.3f} (constant, log-normal) from duplicate wells, "
                                             f"{100 * frac_below:.0f}% of samples <LLOQ and {100 * frac_above:.0f}% "
                                             f">ULOQ in {folder}/concentrations.csv")
        notes.append(f"{eid}: assay CV {cv:.3f} ({len(dup)} duplicate samples), {100 * frac_below:.0f}% of samples "
                     f"<LLOQ, {100 * frac_above:.0f}% >ULOQ")
    return out, notes
