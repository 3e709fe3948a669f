"""A whole simulated MSC co-culture study: FCS files, ELISA plates, manifest and truth.

Design: N donors x conditions (stimulated PBMC alone, PBMC + MSC at 1:10 and
1:50, unstimulated PBMC), each culture stained with a T-helper ICS panel and a
Treg panel carrying CellTrace Violet, plus a FoxP3 FMO control per donor;
supernatants measured by ELISA for IFN-γ, IL-17A, TNF-α and IL-10. More
panels (:mod:`msclab.simulate.panels`) can be added with their controls; the
MSC identity panel is acquired on the MSC lot itself.
Baseline frequencies and MSC effects follow ``msc_catalogue.md`` §4 (synthetic
defaults). Everything is deterministic for a seed, and the T-cell panels, the
ELISA plates and the MSC identity files do not change when panels are added
(each draws from its own random stream).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import flowio
import numpy as np
import pandas as pd
import yaml

from .. import __version__
from .._files import atomic_path, atomic_write
from .cytometer import (
    ACQUISITION_PROBLEMS, LOW_EVENTS_SHARE, RANGE, SCATTER, TIMESTEP, PanelDesign, SampleComposition, draw_events,
    spillover_matrix,
)
from .effects import (
    DEFAULT_EFFECTS, PlantedEffect, apply_effect, direction_of, donor_effects, ratio_weight, resolve_effects,
)
from .elisa import KITS, simulate_plates, write_grid, write_layout
from .panels import DEFAULT_PANELS, PANELS
from .subsets import CULTURE_SD, MSC_LOT, culture_subsets, donor_subsets, draw_fraction
from .truth import truth_populations


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
    panels
        Panels to acquire (names in :data:`msclab.simulate.panels.PANELS`),
        with the controls their protocols need.
    hard
        Share (0-1) of the stained cultures that are not controls (stimulated,
        with or without MSCs, on every panel) whose tube has an acquisition
        problem, ``low_events``, ``poor_separation`` or ``shifted`` in equal
        numbers (:data:`msclab.simulate.cytometer.ACQUISITION_PROBLEMS`), drawn
        from a random stream of their own: hard samples that gating may get
        wrong. ``truth.json`` names each (``files[...]["problem"]``); the truth
        is still every event's label.
    """

    donors: int = 6
    events: int = 20000
    seed: int = 0
    effects: dict[str, str] = field(default_factory=dict)
    null: bool = False
    labels: bool = False
    panels: tuple[str, ...] = DEFAULT_PANELS
    hard: float = 0.0

    def __post_init__(self) -> None:
        self.panels = tuple(self.panels)
        if not 0.0 <= self.hard <= 1.0:
            raise ValueError(f"hard must be a share between 0 and 1, not {self.hard}")
        unknown = [p for p in self.panels if p not in PANELS]
        if unknown or not self.panels:
            raise ValueError(f"unknown panels {unknown or '(none given)'}; choose from {', '.join(PANELS)}")


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
# The MSC lot acquired on the MSC identity panel (no PBMC: every T-cell fraction is 0).
_MSC_LOT_ID = "MSC1"
_MSC_LOT_CULTURE = Condition("msc", "MSC", "", "none")
_NO_PBMC = SampleComposition(**{f.name: 0.0 for f in fields(SampleComposition)} | {"stimulated": False})


def _donor_baseline(rng: np.random.Generator) -> dict[str, float]:
    """A donor's fractions, drawn on the logit scale; CD8 takes its share of the non-CD4 T cells."""
    values = {name: draw_fraction(mean, sd, rng) for name, (mean, sd) in _BASELINE.items()}
    values["cd8_of_t"] = (1 - values["cd4_of_t"]) * values.pop("cd8_of_rest")
    return values


def _composition(base: dict[str, float], cond: Condition, donor_effects: dict[str, float],
                 effects: dict[str, PlantedEffect], rng: np.random.Generator) -> SampleComposition:
    values = dict(base)
    if cond.stimulus == "none":
        values.update(_UNSTIMULATED)
    weight = ratio_weight(cond.ratio)
    for name, effect_id in _EFFECT_OF.items():
        if weight:
            values[name] = apply_effect(values[name], effects[effect_id], donor_effects[effect_id], weight)
        values[name] = min(0.95, values[name] * math.exp(CULTURE_SD * rng.standard_normal()))
    return SampleComposition(msc_fraction=0.3 * (cond.ratio or 0.0), stimulated=cond.stimulus != "none", **values)


def _fcs_metadata(panel: PanelDesign, sample_id: str, plate: str, well: str, file_name: str) -> dict[str, str]:
    spill = spillover_matrix(panel.detectors)
    names = list(spill.columns)
    spill_text = ",".join([str(len(names)), *names, *(f"{v:.6g}" for v in spill.to_numpy().ravel())])
    meta = {"cyt": "msclab simulated 3-laser cytometer", "spillover": spill_text, "timestep": str(TIMESTEP),
            "src": sample_id, "fil": file_name, "wellid": well, "platename": plate, "proj": "msclab simulation"}
    channels = [*SCATTER, *panel.detectors, "Time"]
    for i, name in enumerate(channels, start=1):
        meta[f"p{i}r"] = str(RANGE)
    return meta


def _write_fcs(path: Path, events: np.ndarray, channels: list[str], panel: PanelDesign, meta: dict[str, str]) -> None:
    markers = panel.markers
    pns = [markers.get(c, "") for c in channels]
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        flowio.create_fcs(handle, events.ravel(), channels, opt_channel_names=pns, metadata_dict=meta)


def _fmo_id(owner: str, marker: str) -> str:
    """Sample id of an FMO tube: ``D1_fmo_foxp3``, ``D1_fmo_pd1``."""
    return f"{owner}_fmo_{re.sub(r'[^a-z0-9]', '', marker.lower())}"


def _entry(donor: str, cond: Condition, composition: dict[str, float]) -> dict:
    return {"donor": donor, "condition": cond.condition, "msc_ratio": cond.msc_ratio, "stimulus": cond.stimulus,
            "composition": composition, "populations": {}}


def _culture_row(donor: str, cond: Condition, omit: str | None) -> dict[str, str]:
    return {"donor": donor, "condition": cond.condition, "msc_ratio": cond.msc_ratio, "stimulus": cond.stimulus,
            "culture": "contact", "msc_source": "BM" if cond.msc_ratio else "",
            "msc_licensing": "none" if cond.msc_ratio else "", "timepoint": "96h", "replicate": "1",
            "control_type": "fmo" if omit else cond.control_type, "control_for": omit or ""}


def _msc_lot_row(omit: str | None) -> dict[str, str]:
    return {"donor": _MSC_LOT_ID, "condition": _MSC_LOT_CULTURE.condition, "msc_ratio": "", "stimulus": "none",
            "culture": "", "msc_source": "BM", "msc_licensing": "none", "timepoint": "", "replicate": "1",
            "control_type": "fmo" if omit else "", "control_for": omit or ""}


@dataclass
class _Acquisitions:
    """Writes the FCS files of a study and collects their samplesheet rows and file truth.

    Wells run A1..H12 per plate series: ``flow1`` (wrapping, as it always has)
    for the T-cell panels, ``flow2``, ``flow3`` ... (96 wells each) for the others.
    """

    out: Path
    design: StudyDesign
    rows: list[dict[str, str]] = field(default_factory=list)
    files: dict[str, dict] = field(default_factory=dict)
    used: dict[bool, int] = field(default_factory=lambda: {False: 0, True: 0})
    problems: dict[tuple[str, str], str] = field(default_factory=dict)

    def acquire(self, sample_id: str, panel: PanelDesign, comp: SampleComposition, subsets: dict[str, float],
                row: dict[str, str], rng: np.random.Generator, *, extra: bool) -> dict:
        """Draw, write and record one file; return its true populations."""
        index = self.used[extra]
        self.used[extra] += 1
        plate = f"flow{2 + index // 96}" if extra else "flow1"
        well = f"{'ABCDEFGH'[index // 12 % 8]}{index % 12 + 1}"
        file_name = f"{sample_id}_{panel.name}.fcs"
        omit = row["control_for"] or None
        problem = None if omit else self.problems.get((sample_id, panel.name))
        n_events = round(self.design.events * LOW_EVENTS_SHARE) if problem == "low_events" else self.design.events
        events, channels, labels = draw_events(comp, panel, n_events, rng, omit=omit, subsets=subsets,
                                               problem=problem)
        _write_fcs(self.out / "fcs" / file_name, events, channels, panel,
                   _fcs_metadata(panel, sample_id, plate, well, file_name))
        if self.design.labels:
            with atomic_path(self.out / "labels" / f"{sample_id}_{panel.name}.parquet") as tmp:
                labels.to_parquet(tmp, index=False)
        self.files[f"fcs/{file_name}"] = {"sample_id": sample_id, "panel": panel.name, "events": n_events,
                                          "channels": len(channels)} | ({"problem": problem} if problem else {})
        self.rows.append({"sample_id": sample_id, "file": f"fcs/{file_name}", "panel": panel.name, "plate": plate,
                          "well": well} | row)
        return truth_populations(comp, subsets, panel, labels)


def _selected(design: StudyDesign, source: str, donor_stream: bool) -> list[PanelDesign]:
    """The design's panels of one source, in the canonical order, drawn from the donor stream or not."""
    return [p for name, p in PANELS.items()
            if name in design.panels and p.source == source and (name in DEFAULT_PANELS) == donor_stream]


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
    effects = resolve_effects(design.effects, null=design.null, panels=design.panels)
    t_panels, other_panels = _selected(design, "culture", True), _selected(design, "culture", False)
    root = np.random.SeedSequence(design.seed)
    donor_seeds = root.spawn(design.donors)
    acq = _Acquisitions(out, design, problems=_planted_problems(design, [*t_panels, *other_panels]))
    samples_truth: dict[str, dict] = {}
    concentrations: dict[str, dict[str, float]] = {a: {} for a in _CYTOKINES}
    for d, seed in enumerate(donor_seeds, start=1):
        donor = f"D{d}"
        rng = np.random.default_rng(seed)
        base = _donor_baseline(rng)
        sizes = donor_effects({k: e for k, e in effects.items() if k in DEFAULT_EFFECTS}, rng)
        cytokine_base = {a: med * math.exp(sd * rng.standard_normal()) for a, (med, sd, _, _) in _CYTOKINES.items()}
        comps = {}
        for cond in CONDITIONS:
            sample_id = f"{donor}_{cond.code}"
            comp = comps[cond.code] = _composition(base, cond, sizes, effects, rng)
            entry = samples_truth[sample_id] = _entry(donor, cond, asdict(comp))
            for panel in t_panels:
                entry["populations"][panel.name] = acq.acquire(
                    sample_id, panel, comp, {}, _culture_row(donor, cond, None), rng, extra=False)
            entry["concentrations"] = {}
            for analyte, (_, _, unstim, effect_id) in _CYTOKINES.items():
                value = cytokine_base[analyte] * (unstim if cond.stimulus == "none" else 1.0)
                weight = ratio_weight(cond.ratio)
                value *= 2.0 ** (weight * sizes[effect_id]) * math.exp(CULTURE_SD * rng.standard_normal())
                concentrations[analyte][sample_id] = value
                entry["concentrations"][analyte] = round(value, 4)
        for panel in t_panels:
            for marker in panel.fmo_markers:
                sample_id = _fmo_id(donor, marker)
                entry = samples_truth.setdefault(sample_id, _entry(donor, CONDITIONS[0], asdict(comps["pbmc"])))
                entry["populations"][panel.name] = acq.acquire(
                    sample_id, panel, comps["pbmc"], {}, _culture_row(donor, CONDITIONS[0], marker), rng, extra=False)
        if other_panels:
            _acquire_other_panels(acq, other_panels, donor, seed, comps, effects, samples_truth)

    elisa_rng = np.random.default_rng(root.spawn(1)[0])
    msc_panels = _selected(design, "msc", False)
    if msc_panels:
        _acquire_msc_lot(acq, msc_panels, np.random.default_rng(root.spawn(1)[0]), samples_truth)
    assays, plates_truth = [], {}
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

    sheet = pd.DataFrame(acq.rows)
    with atomic_write(out / "samplesheet.csv", newline="") as handle:
        sheet.to_csv(handle, index=False)
    _write_manifest(out, design, assays)
    design_record = asdict(design)
    if design.panels == DEFAULT_PANELS:  # the default study's truth.json is as it was before panels were optional
        del design_record["panels"]
    if not design.hard:  # likewise before hard samples could be planted
        del design_record["hard"]
    truth = {
        "msclab_version": __version__,
        "design": design_record,
        "effects": {k: direction_of(e) for k, e in effects.items()},
        "effect_sizes": {k: {"scale": e.scale, "at_1:10": round(e.size, 6), "at_1:50": round(e.size * ratio_weight(1 / 50), 6),
                             "donor_sd": e.donor_sd, "source": e.source} for k, e in effects.items()},
        "samples": samples_truth,
        "files": acq.files,
        "elisa": plates_truth,
    }
    with atomic_write(out / "truth.json") as handle:
        json.dump(truth, handle, indent=1)
        handle.write("\n")
    return truth


def _planted_problems(design: StudyDesign, panels: list[PanelDesign]) -> dict[tuple[str, str], str]:
    """(sample id, panel) -> acquisition problem of the tubes ``design.hard`` makes hard."""
    tubes = [(f"D{d}_{cond.code}", panel.name) for d in range(1, design.donors + 1)
             for cond in CONDITIONS if not cond.control_type for panel in panels]
    rng = np.random.default_rng([design.seed, 16])  # a stream of its own: the other draws do not move
    chosen = rng.choice(len(tubes), size=round(design.hard * len(tubes)), replace=False)
    kinds = [tuple(ACQUISITION_PROBLEMS)[i % len(ACQUISITION_PROBLEMS)] for i in range(len(chosen))]
    return {tubes[i]: kind for i, kind in zip(sorted(chosen), rng.permutation(kinds), strict=True)}


def _acquire_other_panels(acq: _Acquisitions, panels: list[PanelDesign], donor: str, seed: np.random.SeedSequence,
                          comps: dict[str, SampleComposition], effects: dict[str, PlantedEffect],
                          samples_truth: dict[str, dict]) -> None:
    """Acquire one donor's cultures on the panels beyond th_ics/treg, from a stream of their own."""
    rng = np.random.default_rng(seed.spawn(1)[0])
    names = [p.name for p in panels]
    base = donor_subsets(names, rng)
    sizes = donor_effects({k: e for k, e in effects.items() if k not in DEFAULT_EFFECTS}, rng)
    subsets = {}
    for cond in CONDITIONS:
        sample_id = f"{donor}_{cond.code}"
        sub = subsets[cond.code] = culture_subsets(base, names, cond.stimulus != "none", ratio_weight(cond.ratio),
                                                   sizes, effects, rng)
        entry = samples_truth[sample_id]
        entry["composition"].update({k: round(v, 6) for k, v in sub.items()})
        for panel in panels:
            entry["populations"][panel.name] = acq.acquire(
                sample_id, panel, comps[cond.code], sub, _culture_row(donor, cond, None), rng, extra=True)
    for panel in panels:
        for marker in panel.fmo_markers:
            sample_id = _fmo_id(donor, marker)
            entry = samples_truth.setdefault(sample_id, _entry(donor, CONDITIONS[0], asdict(comps["pbmc"])))
            entry["composition"].update({k: round(v, 6) for k, v in subsets["pbmc"].items()})
            entry["populations"][panel.name] = acq.acquire(
                sample_id, panel, comps["pbmc"], subsets["pbmc"], _culture_row(donor, CONDITIONS[0], marker), rng,
                extra=True)


def _acquire_msc_lot(acq: _Acquisitions, panels: list[PanelDesign], rng: np.random.Generator,
                     samples_truth: dict[str, dict]) -> None:
    """Acquire the MSC lot (and its FMO tubes) on the MSC panels."""
    entry = samples_truth[_MSC_LOT_ID] = _entry(_MSC_LOT_ID, _MSC_LOT_CULTURE, dict(MSC_LOT))
    for panel in panels:
        entry["populations"][panel.name] = acq.acquire(_MSC_LOT_ID, panel, _NO_PBMC, MSC_LOT, _msc_lot_row(None), rng,
                                                       extra=True)
        for marker in panel.fmo_markers:
            sample_id = _fmo_id(_MSC_LOT_ID, marker)
            fmo = samples_truth.setdefault(sample_id, _entry(_MSC_LOT_ID, _MSC_LOT_CULTURE, dict(MSC_LOT)))
            fmo["populations"][panel.name] = acq.acquire(sample_id, panel, _NO_PBMC, MSC_LOT, _msc_lot_row(marker),
                                                         rng, extra=True)


_EXTRA_DESCRIPTION = {
    "msc_identity": "The MSC lot is phenotyped on its own (ISCT panel, one FMO per marker).",
}


def _write_manifest(out: Path, design: StudyDesign, assays: list[dict]) -> None:
    description = ("PBMC stimulated with anti-CD3/CD28 for 96 h alone or with bone-marrow MSCs at 1:10 and "
                   "1:50, plus unstimulated PBMC; ICS after PMA/ionomycin restimulation. Simulated by "
                   "msclab with known truth (truth.json).")
    others = [p for p in PANELS if p in design.panels and p not in DEFAULT_PANELS]
    if others:
        description += (f" Also stained: {', '.join(others)} (panel descriptions below). "
                        + " ".join(_EXTRA_DESCRIPTION[p] for p in others if p in _EXTRA_DESCRIPTION)).rstrip()
    manifest = {
        "name": f"Simulated MSC co-culture study (seed {design.seed}, {design.donors} donors)",
        "description": description,
        "samplesheet": "samplesheet.csv",
        "context": "in_vitro_human",
        "plate_format": 96,
        "panels": {
            name: {"markers": panel.markers, "protocol": name, "controls": dict(panel.controls),
                   "description": panel.description}
            for name, panel in PANELS.items() if name in design.panels
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
