"""A whole simulated MSC co-culture study: FCS files, ELISA plates, manifest and truth.

Design: N donors x conditions (stimulated PBMC alone, PBMC + MSC at 1:10 and
1:50, unstimulated PBMC), each culture stained with a T-helper ICS panel and a
Treg panel carrying CellTrace Violet, plus a FoxP3 FMO control per donor;
supernatants measured by ELISA for IFN-γ, IL-17A, TNF-α and IL-10.
Baseline frequencies and MSC effects follow ``msc_catalogue.md`` §4 (synthetic
defaults). Everything is deterministic for a seed.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import flowio
import numpy as np
import pandas as pd
import yaml

from .. import __version__
from .._files import atomic_path, atomic_write
from .cytometer import (
    DETECTORS, PANELS, RANGE, SCATTER, TIMESTEP, TREG, PanelDesign, SampleComposition, draw_events,
    spillover_matrix,
)
from .effects import PlantedEffect, direction_of, ratio_weight, resolve_effects
from .elisa import KITS, simulate_plates, write_grid, write_layout


@dataclass(frozen=True)
class Condition:
    """A culture condition of the design."""

    code: str
    condition: str
    msc_ratio: str
    stimulus: str
    control_type: str = ""

    @property
    def ratio(self) -> float | None:
        """MSC:PBMC as a fraction (None without MSCs)."""
        if not self.msc_ratio:
            return None
        a, b = self.msc_ratio.split(":")
        return float(a) / float(b)


STIMULUS = "anti-CD3/CD28"
CONDITIONS = (
    Condition("pbmc", "PBMC", "", STIMULUS),
    Condition("msc10", "PBMC+MSC", "1:10", STIMULUS),
    Condition("msc50", "PBMC+MSC", "1:50", STIMULUS),
    Condition("unstim", "PBMC", "", "none", "unstimulated"),
)


@dataclass
class StudyDesign:
    """Parameters of a simulated study.

    Attributes
    ----------
    donors
        Number of PBMC donors.
    events
        Events per FCS file.
    seed
        Random seed; the same seed gives byte-identical files.
    effects
        Effect id -> ``up``/``down``/``none`` overriding the literature direction.
    null
        Plant no MSC effect at all.
    labels
        Also write the per-event truth labels (Parquet) beside the files.
    """

    donors: int = 6
    events: int = 20000
    seed: int = 0
    effects: dict[str, str] = field(default_factory=dict)
    null: bool = False
    labels: bool = False


# Donor baselines (stimulated cultures): mean and SD of the fraction (catalogue §4).
_BASELINE = {
    "t_of_lymph": (0.70, 0.05), "cd4_of_t": (0.62, 0.05), "cd8_of_rest": (0.79, 0.05),
    "th1": (0.15, 0.05), "th17": (0.012, 0.005), "th1_17": (0.003, 0.001), "th2": (0.02, 0.01),
    "tc1": (0.20, 0.05), "treg": (0.06, 0.015), "foxp3_activated": (0.01, 0.003), "activated": (0.15, 0.04),
    "divided_cd4": (0.70, 0.10), "divided_cd8": (0.75, 0.10),
}
# Unstimulated cultures: background cytokine staining and division.
_UNSTIMULATED = {"th1": 0.002, "th17": 0.001, "th1_17": 0.0003, "th2": 0.002, "tc1": 0.003,
                 "activated": 0.02, "foxp3_activated": 0.003, "divided_cd4": 0.03, "divided_cd8": 0.03}
# Which planted effect moves which composition field.
_EFFECT_OF = {"th1": "th1_frequency", "tc1": "th1_frequency", "th17": "th17_frequency",
              "th1_17": "th17_frequency", "th2": "th2_frequency", "treg": "treg_frequency",
              "divided_cd4": "t_prolif_cd4", "divided_cd8": "t_prolif_cd8"}
# Culture supernatant concentrations (pg/mL) of stimulated PBMC: median, log-SD; unstimulated fraction.
_CYTOKINES = {"IFN-g": (6000.0, 0.5, 0.01, "ifng"), "TNF-a": (2000.0, 0.5, 0.03, "tnfa"),
              "IL-17A": (300.0, 0.5, 0.02, "il17a"), "IL-10": (300.0, 0.4, 0.15, "il10")}
_CULTURE_SD = 0.05  # culture-to-culture noise on the log scale


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _expit(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _donor_baseline(rng: np.random.Generator) -> dict[str, float]:
    """A donor's fractions, drawn on the logit scale; CD8 takes its share of the non-CD4 T cells."""
    values = {}
    for name, (mean, sd) in _BASELINE.items():
        sd_logit = sd / (mean * (1 - mean))
        values[name] = _expit(_logit(mean) + sd_logit * rng.standard_normal())
    values["cd8_of_t"] = (1 - values["cd4_of_t"]) * values.pop("cd8_of_rest")
    return values


def _apply(value: float, effect: PlantedEffect, donor_effect: float, weight: float) -> float:
    if effect.scale == "log2_ratio":
        return value * 2.0 ** (weight * donor_effect)
    return value * (1.0 - float(np.clip(weight * donor_effect, -0.9, 0.95)))


def _composition(base: dict[str, float], cond: Condition, donor_effects: dict[str, float],
                 effects: dict[str, PlantedEffect], rng: np.random.Generator) -> SampleComposition:
    values = dict(base)
    if cond.stimulus == "none":
        values.update(_UNSTIMULATED)
    weight = ratio_weight(cond.ratio)
    for name, effect_id in _EFFECT_OF.items():
        if weight:
            values[name] = _apply(values[name], effects[effect_id], donor_effects[effect_id], weight)
        values[name] = min(0.95, values[name] * math.exp(_CULTURE_SD * rng.standard_normal()))
    return SampleComposition(msc_fraction=0.3 * (cond.ratio or 0.0), stimulated=cond.stimulus != "none", **values)


def _truth_populations(comp: SampleComposition, panel: PanelDesign, labels: pd.DataFrame) -> dict:
    """Planted and realised frequency of each reported population (fractions of the parent)."""
    ct, st, gen = labels["cell_type"].astype(str), labels["state"].astype(str), labels["generation"]
    lymph = ct.isin(["cd4", "cd8", "dn_t", "b", "nk", "other"])
    t = ct.isin(["cd4", "cd8", "dn_t"])
    cd4, cd8 = ct == "cd4", ct == "cd8"
    rows = {
        "T cells": ("Live lymphocytes", comp.t_of_lymph, t, lymph),
        "CD4": ("T cells", comp.cd4_of_t, cd4, t),
        "CD8": ("T cells", comp.cd8_of_t, cd8, t),
    }
    if panel.name == "th_ics":
        rows |= {
            "Th1": ("CD4", comp.th1, cd4 & (st == "th1"), cd4),
            "Th17": ("CD4", comp.th17, cd4 & (st == "th17"), cd4),
            "Th1/17": ("CD4", comp.th1_17, cd4 & (st == "th1_17"), cd4),
            "Th2": ("CD4", comp.th2, cd4 & (st == "th2"), cd4),
            "Tc1": ("CD8", comp.tc1, cd8 & (st == "tc1"), cd8),
        }
    else:
        rows |= {
            "Treg": ("CD4", comp.treg, cd4 & (st == "treg"), cd4),
            "CD25+FoxP3+": ("CD4", comp.treg + comp.foxp3_activated,
                            cd4 & st.isin(["treg", "foxp3_activated"]), cd4),
            "CD4 divided": ("CD4", comp.divided_cd4, cd4 & (gen > 0), cd4),
            "CD8 divided": ("CD8", comp.divided_cd8, cd8 & (gen > 0), cd8),
        }
    return {
        name: {"parent": parent, "planted": round(planted, 6), "count": int(member.sum()),
               "parent_count": int(base.sum()), "observed": round(float(member.sum() / max(base.sum(), 1)), 6)}
        for name, (parent, planted, member, base) in rows.items()
    }


def _fcs_metadata(panel: PanelDesign, sample_id: str, well: str, file_name: str) -> dict[str, str]:
    spill = spillover_matrix()
    names = list(spill.columns)
    spill_text = ",".join([str(len(names)), *names, *(f"{v:.6g}" for v in spill.to_numpy().ravel())])
    meta = {"cyt": "msclab simulated 3-laser cytometer", "spillover": spill_text, "timestep": str(TIMESTEP),
            "src": sample_id, "fil": file_name, "wellid": well, "platename": "flow1", "proj": "msclab simulation"}
    channels = [*SCATTER, *DETECTORS.values(), "Time"]
    for i, name in enumerate(channels, start=1):
        meta[f"p{i}r"] = str(RANGE)
    return meta


def _write_fcs(path: Path, events: np.ndarray, channels: list[str], panel: PanelDesign, meta: dict[str, str]) -> None:
    markers = panel.markers
    pns = [markers.get(c, "") for c in channels]
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        flowio.create_fcs(handle, events.ravel(), channels, opt_channel_names=pns, metadata_dict=meta)


def simulate_study(out: str | Path, design: StudyDesign | None = None) -> dict:
    """Write a simulated study to ``out`` and return its truth.

    Writes ``experiment.yaml``, ``samplesheet.csv``, ``fcs/*.fcs``,
    ``elisa/*.csv`` (plates and layouts), ``truth.json`` and, with
    ``design.labels``, ``labels/*.parquet``.

    Parameters
    ----------
    out
        Output folder (created).
    design
        Study parameters; defaults to :class:`StudyDesign`.

    Returns
    -------
    dict
        The content of ``truth.json``.
    """
    design = design or StudyDesign()
    out = Path(out)
    effects = resolve_effects(design.effects, null=design.null)
    root = np.random.SeedSequence(design.seed)
    donor_seeds = root.spawn(design.donors)
    rows, samples_truth, files_truth = [], {}, {}
    concentrations: dict[str, dict[str, float]] = {a: {} for a in _CYTOKINES}
    flow_well = 0
    for d, seed in enumerate(donor_seeds, start=1):
        donor = f"D{d}"
        rng = np.random.default_rng(seed)
        base = _donor_baseline(rng)
        donor_effects = {k: e.size + (e.donor_sd * rng.standard_normal() if e.size else 0.0) for k, e in effects.items()}
        cytokine_base = {a: med * math.exp(sd * rng.standard_normal()) for a, (med, sd, _, _) in _CYTOKINES.items()}
        tubes = [(c, None) for c in CONDITIONS] + [(CONDITIONS[0], "FoxP3")]
        for cond, omit in tubes:
            sample_id = f"{donor}_{cond.code}" if omit is None else f"{donor}_fmo_{omit.lower()}"
            comp = _composition(base, cond, donor_effects, effects, rng) if omit is None else comps_pbmc
            if cond.code == "pbmc" and omit is None:
                comps_pbmc = comp
            panels = (TREG,) if omit else tuple(PANELS.values())
            entry = {"donor": donor, "condition": cond.condition, "msc_ratio": cond.msc_ratio,
                     "stimulus": cond.stimulus, "composition": asdict(comp), "populations": {}}
            for panel in panels:
                flow_well += 1
                well = f"{'ABCDEFGH'[(flow_well - 1) // 12 % 8]}{(flow_well - 1) % 12 + 1}"
                file_name = f"{sample_id}_{panel.name}.fcs"
                events, channels, labels = draw_events(comp, panel, design.events, rng, omit=omit)
                _write_fcs(out / "fcs" / file_name, events, channels, panel,
                           _fcs_metadata(panel, sample_id, well, file_name))
                if design.labels:
                    with atomic_path(out / "labels" / f"{sample_id}_{panel.name}.parquet") as tmp:
                        labels.to_parquet(tmp, index=False)
                entry["populations"][panel.name] = _truth_populations(comp, panel, labels)
                files_truth[f"fcs/{file_name}"] = {"sample_id": sample_id, "panel": panel.name,
                                                   "events": design.events, "channels": len(channels)}
                rows.append({
                    "sample_id": sample_id, "file": f"fcs/{file_name}", "panel": panel.name, "plate": "flow1",
                    "well": well, "donor": donor, "condition": cond.condition, "msc_ratio": cond.msc_ratio,
                    "stimulus": cond.stimulus, "culture": "contact", "msc_source": "BM" if cond.msc_ratio else "",
                    "msc_licensing": "none" if cond.msc_ratio else "", "timepoint": "96h", "replicate": "1",
                    "control_type": "fmo" if omit else cond.control_type, "control_for": omit or "",
                })
            if omit is None:
                entry["concentrations"] = {}
                for analyte, (_, _, unstim, effect_id) in _CYTOKINES.items():
                    value = cytokine_base[analyte] * (unstim if cond.stimulus == "none" else 1.0)
                    weight = ratio_weight(cond.ratio)
                    value *= 2.0 ** (weight * donor_effects[effect_id]) * math.exp(_CULTURE_SD * rng.standard_normal())
                    concentrations[analyte][sample_id] = value
                    entry["concentrations"][analyte] = round(value, 4)
            samples_truth[sample_id] = entry

    assays, plates_truth = [], {}
    elisa_rng = np.random.default_rng(root.spawn(1)[0])
    for analyte, kit in KITS.items():
        stem = analyte.lower().replace("-", "")
        layout, reads = simulate_plates(kit, concentrations[analyte], elisa_rng, prefix=stem)
        for plate_id, plate_reads in reads.items():
            write_grid(out / "elisa" / f"{plate_id}.csv", plate_id, analyte, plate_reads)
            write_layout(out / "elisa" / f"{plate_id}_layout.csv", kit, layout[layout["plate"] == plate_id])
            assays.append({"id": f"elisa_{plate_id}", "file": f"elisa/{plate_id}.csv", "format": "grid",
                           "layout": f"elisa/{plate_id}_layout.csv", "analyte": analyte, "unit": "pg/mL"})
        standards = kit.standards()
        plates_truth[analyte] = {
            "lowest_standard": float(standards.min()), "top_standard": float(standards.max()),
            "sample_dilution": kit.sample_dilution,
            "four_pl": {"a": kit.a, "b": kit.b, "c": kit.c, "d": kit.d},
            "wells": [
                {"plate": r.plate, "well": r.well, "sample_id": r.sample_id, "in_well": round(float(r.true_concentration), 6),
                 "in_range": bool(standards.min() <= r.true_concentration <= standards.max())}
                for r in layout[layout["sample_type"] == "unknown"].itertuples()
            ],
        }

    sheet = pd.DataFrame(rows)
    with atomic_write(out / "samplesheet.csv", newline="") as handle:
        sheet.to_csv(handle, index=False)
    _write_manifest(out, design, assays)
    truth = {
        "msclab_version": __version__,
        "design": asdict(design),
        "effects": {k: direction_of(e) for k, e in effects.items()},
        "effect_sizes": {k: {"scale": e.scale, "at_1:10": round(e.size, 6), "at_1:50": round(e.size * ratio_weight(1 / 50), 6),
                             "donor_sd": e.donor_sd, "source": e.source} for k, e in effects.items()},
        "samples": samples_truth,
        "files": files_truth,
        "elisa": plates_truth,
    }
    with atomic_write(out / "truth.json") as handle:
        json.dump(truth, handle, indent=1)
        handle.write("\n")
    return truth


def _write_manifest(out: Path, design: StudyDesign, assays: list[dict]) -> None:
    manifest = {
        "name": f"Simulated MSC co-culture study (seed {design.seed}, {design.donors} donors)",
        "description": ("PBMC stimulated with anti-CD3/CD28 for 96 h alone or with bone-marrow MSCs at 1:10 and "
                        "1:50, plus unstimulated PBMC; ICS after PMA/ionomycin restimulation. Simulated by "
                        "msclab with known truth (truth.json)."),
        "samplesheet": "samplesheet.csv",
        "context": "in_vitro_human",
        "plate_format": 96,
        "panels": {
            "th_ics": {"markers": PANELS["th_ics"].markers, "protocol": "th_ics",
                       "controls": {"IFN-g": "unstimulated", "IL-17A": "unstimulated", "IL-4": "unstimulated"},
                       "description": "T-helper intracellular cytokines"},
            "treg": {"markers": PANELS["treg"].markers, "protocol": "treg", "controls": {"FoxP3": "fmo"},
                     "description": "Treg with CellTrace Violet proliferation"},
        },
        "assays": assays,
        "contrasts": [
            {"name": "msc_1to10", "treatment": {"condition": "PBMC+MSC", "msc_ratio": "1:10"},
             "control": {"condition": "PBMC", "stimulus": STIMULUS}, "pair_by": "donor",
             "match_on": ["stimulus", "timepoint"]},
            {"name": "msc_1to50", "treatment": {"condition": "PBMC+MSC", "msc_ratio": "1:50"},
             "control": {"condition": "PBMC", "stimulus": STIMULUS}, "pair_by": "donor",
             "match_on": ["stimulus", "timepoint"]},
        ],
    }
    with atomic_write(out / "experiment.yaml") as handle:
        yaml.safe_dump(manifest, handle, sort_keys=False, allow_unicode=True)


__all__ = ["CONDITIONS", "Condition", "StudyDesign", "simulate_study"]
