"""Where effect sizes and variances come from: synthetic defaults or an earlier analysis.

Every :class:`EffectModel` carries the text of its sources, which the plan's
report lists as its assumptions.

Defaults are the simulator's (:mod:`msclab.simulate.effects`,
:mod:`msclab.simulate.study`): effect magnitudes and donor SDs of
``msc_catalogue.md`` §4 (synthetic defaults, typical literature ranges), donor
baselines of §4, culture noise of :data:`msclab.simulate.subsets.CULTURE_SD`
and the ELISA kits' lowest standards as LLOQ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import MsclabError
from ..simulate.effects import DEFAULT_EFFECTS
from ..simulate.elisa import KITS
from ..simulate.subsets import CULTURE_SD

FREQUENCY, PROLIFERATION, CONCENTRATION = "frequency", "proliferation", "concentration"
#: A plain paired design: donor effects normal around the effect, no technical noise (for checks).
NORMAL = "normal"

#: Share of acquired events that are live single CD4 / CD8 T cells in the simulated study:
#: the lymphocyte gate keeps 0.75 of events (``example_data`` analysed: median 3,010 of 4,000) x T of
#: lymphocytes 0.70 x CD4 of T 0.62 (CD8 of T 0.30), the §4 baselines of ``msclab.simulate.study``.
PARENT_SHARE = {"CD4": 0.75 * 0.70 * 0.62, "CD8": 0.75 * 0.70 * 0.30}

_SOURCE_BASE = "msc_catalogue.md §4 donor baselines (msclab.simulate.study)"
_SOURCE_CULTURE = f"culture-to-culture SD {CULTURE_SD} on the log scale (msclab.simulate.subsets.CULTURE_SD, heuristic)"
_SOURCE_ASSAY = "ELISA duplicate CV 8% (heuristic: sandwich-ELISA intra-assay CV is typically < 10%, FDA 2018 BMV guidance accepts <= 20%)"
_SOURCE_LLOQ = "LLOQ = the kit's lowest standard x sample dilution (msclab.simulate.elisa.KITS)"


@dataclass(frozen=True)
class EffectModel:
    """One endpoint as the fast simulator sees it.

    Attributes
    ----------
    effect_id
        Catalogue id.
    kind
        ``frequency`` (a population % of its parent), ``proliferation`` (% divided) or
        ``concentration`` (a supernatant cytokine); ``normal`` is a plain paired
        design (donor effects normal with SD ``donor_sd``, no technical noise).
    size
        Effect at MSC:PBMC 1:10 as planted: log2 ratio for frequencies and
        concentrations, fraction of division removed for proliferation.
    donor_sd
        Donor-to-donor SD of ``size``.
    baseline, baseline_sd
        Control-arm fraction (mean, SD) or concentration (median pg/mL, SD of log).
    parent_share
        Share of events in the parent population (frequencies, proliferation).
    culture_sd
        Culture-to-culture SD (natural log scale) of each tube / well.
    assay_cv
        Measurement CV of a concentration.
    lloq
        Lower limit of quantification (pg/mL) for concentrations.
    background
        Divided fraction of unstimulated cultures (proliferation).
    source
        Where these numbers come from.
    """

    effect_id: str
    kind: str
    size: float
    donor_sd: float
    baseline: float
    baseline_sd: float
    parent_share: float = 1.0
    culture_sd: float = CULTURE_SD
    assay_cv: float = 0.0
    lloq: float = 0.0
    background: float = 0.0
    source: str = ""

    @property
    def scale(self) -> str:
        """The effect's scale in ``analyze``'s effects table."""
        return {FREQUENCY: "log2_ratio", PROLIFERATION: "pct_suppression"}.get(self.kind, "log2_fc")

    def effect_on_scale(self, weight: float) -> float:
        """The planted mean effect at ``weight`` of the 1:10 size, on :attr:`scale`."""
        return 100.0 * weight * self.size if self.kind == PROLIFERATION else weight * self.size


_FREQ = {"th1_frequency": ("th1", "CD4"), "th17_frequency": ("th17", "CD4"),
         "th2_frequency": ("th2", "CD4"), "treg_frequency": ("treg", "CD4")}
_PROLIF = {"t_prolif_cd4": ("divided_cd4", "CD4"), "t_prolif_cd8": ("divided_cd8", "CD8")}
_CONC = {"ifng": "IFN-g", "tnfa": "TNF-a", "il17a": "IL-17A", "il10": "IL-10"}


def default_models() -> dict[str, EffectModel]:
    """Return the synthetic default model of every effect the default panels and assays measure."""
    from ..simulate.study import _BASELINE, _CYTOKINES, _UNSTIMULATED

    models = {}
    for eid, planted in DEFAULT_EFFECTS.items():
        src = f"effect: {planted.source}; baseline: {_SOURCE_BASE}; {_SOURCE_CULTURE}"
        if eid in _FREQ:
            key, parent = _FREQ[eid]
            mean, sd = _BASELINE[key]
            models[eid] = EffectModel(eid, FREQUENCY, planted.size, planted.donor_sd, mean, sd,
                                      PARENT_SHARE[parent], source=src)
        elif eid in _PROLIF:
            key, parent = _PROLIF[eid]
            mean, sd = _BASELINE[key]
            models[eid] = EffectModel(eid, PROLIFERATION, planted.size, planted.donor_sd, mean, sd,
                                      PARENT_SHARE[parent], background=_UNSTIMULATED[key], source=src)
        elif eid in _CONC:
            analyte = _CONC[eid]
            median, log_sd = _CYTOKINES[analyte][:2]
            kit = KITS[analyte]
            lloq = float(kit.standards().min() * kit.sample_dilution)
            models[eid] = EffectModel(eid, CONCENTRATION, planted.size, planted.donor_sd, median, log_sd,
                                      assay_cv=0.08, lloq=lloq,
                                      source=f"{src}; {_SOURCE_ASSAY}; {_SOURCE_LLOQ}")
    return models


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
      fraction below LLOQ (``flag`` ``<LLOQ``) of the control arm, which sets the LLOQ.

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
    from .simulator import technical_sd

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
        below = rows["flag"].fillna("").astype(str).str.contains("<LLOQ", regex=False)
        frac_below = float(below.groupby(rows["sample_id"]).any().mean())
        lloq = m.lloq
        if frac_below > 0:
            from scipy import stats

            # the LLOQ that leaves this fraction of log-normal control values below it
            lloq = float(m.baseline * math.exp(m.baseline_sd * stats.norm.ppf(frac_below)))
        out[eid] = replace(m, assay_cv=cv, lloq=lloq,
                           source=m.source + f"; assay CV {cv:.3f} from duplicate wells and {100 * frac_below:.0f}% "
                                             f"of samples <LLOQ in {folder}/concentrations.csv")
        notes.append(f"{eid}: assay CV {cv:.3f} ({len(dup)} duplicate samples), {100 * frac_below:.0f}% of samples <LLOQ")
    return out, notes
