"""A second study generator: an MSC co-culture study written the way another lab writes it.

It shares no naming with ``msclab simulate`` (issue 13, "How to prove it"; issue 19):

- a 4-laser analyser with BD detector names (``BV421-A``, ``PE-Cy7-A``, ``APC-R700-A``, ``FITC-A``,
  ``APC-H7-A``), a ``SPILL`` keyword and Diva-style ``$PnS`` (``CD25 PE``, ``Foxp3 AF647``);
- marker spellings ``Foxp3``, ``IFN-gamma``, ``IL17A``, ``Live/Dead``, ``CTV``;
- panels with and without a proliferation dye, CD8 and CD45 (:class:`OtherLabDesign`);
- sample ids ``HD01-S``, ``HD01-SM5``, ``HD01-U``, ``HD01-FMO-Foxp3``; plates ``PL0412-1`` filled
  column by column (A1, B1, ... H1, A2);
- a semicolon samplesheet with a UTF-8 byte-order mark, as a spreadsheet in a European locale saves it;
- a Foxp3 FMO per donor, IFN-γ and IL-10 ELISA plates (plate-shaped layouts with unused wells).

The hard cases of issue 19 are planted: Treg among CD25+ CD127-intermediate activated conventional
CD4 T cells, transitional B cells (CD24hi CD38hi, 4-8% of CD27- B), plasmablasts (CD27hi CD38hi,
1-9% of B cells, slightly larger scatter) and CD56bright NK cells beside CD56dim CD16- NK cells.
MSC effects are planted per donor with known log2 changes (:data:`EFFECTS`).

The manifest uses the built-in protocols (``treg``, ``th_ics``, ``b_cells``, ``nk``) as
``docs/experiment.md`` tells a user to. ``truth.json`` holds, per sample and panel, the percentage
of each reported population in its parent (from the realised events of the file), the planted
effects and the true supernatant concentrations.

Use from a test module (tests run with ``--import-mode=importlib``, so load it by path)::

    import importlib.util, sys
    spec = importlib.util.spec_from_file_location("otherlab", Path(__file__).parents[1] / "studies" / "otherlab.py")
    otherlab = sys.modules.setdefault("otherlab", importlib.util.module_from_spec(spec))
    if not hasattr(otherlab, "write_study"):
        spec.loader.exec_module(otherlab)

    truth = otherlab.write_study(tmp_path / "study", otherlab.OtherLabDesign(donors=6, seed=1))

or :func:`study_factory` (a session-cached ``make(**design) -> (folder, truth)``) in a fixture;
``tests/studies/conftest_otherlab.py``-style loading is in ``tests/pipeline/test_otherlab_accuracy.py``.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import flowio
import numpy as np
import yaml

#: Fluorescence detectors of the 4-laser analyser, in acquisition order.
DETECTORS = ("BV421-A", "BV510-A", "BV605-A", "BV786-A", "FITC-A", "PerCP-Cy5-5-A", "PE-A",
             "PE-Cy7-A", "APC-A", "APC-R700-A", "APC-H7-A")
SCATTER = ("FSC-A", "FSC-H", "SSC-A", "SSC-W")
RANGE = 262143.0

# Spillover (source detector, receiving detector) -> fraction of the source's own signal.
_SPILL = {
    ("BV421-A", "BV510-A"): 0.09, ("BV510-A", "BV605-A"): 0.07, ("BV605-A", "BV786-A"): 0.05,
    ("BV605-A", "PE-A"): 0.03, ("FITC-A", "PE-A"): 0.02, ("FITC-A", "PerCP-Cy5-5-A"): 0.03,
    ("PE-A", "PerCP-Cy5-5-A"): 0.10, ("PE-A", "PE-Cy7-A"): 0.02, ("PerCP-Cy5-5-A", "APC-R700-A"): 0.09,
    ("PE-Cy7-A", "APC-H7-A"): 0.06, ("APC-A", "APC-R700-A"): 0.15, ("APC-R700-A", "APC-H7-A"): 0.08,
    ("APC-H7-A", "PE-Cy7-A"): 0.03, ("BV786-A", "PE-Cy7-A"): 0.02,
}
# Autofluorescence seen by each detector (relative to BV510, the brightest).
_AUTOFL = {"BV421-A": 0.9, "BV510-A": 1.0, "BV605-A": 0.5, "BV786-A": 0.2, "FITC-A": 0.7, "PerCP-Cy5-5-A": 0.3,
           "PE-A": 0.25, "PE-Cy7-A": 0.08, "APC-A": 0.06, "APC-R700-A": 0.05, "APC-H7-A": 0.04}


@dataclass(frozen=True)
class Stain:
    """One marker of a panel: the manifest's spelling, its detector and the ``$PnS`` Diva writes."""

    marker: str
    detector: str
    pns: str
    optional: str = ""  # "" (always stained), "dye", "cd8" or "cd45": stained only when the design says so


@dataclass(frozen=True)
class Panel:
    """A staining panel of the other lab."""

    name: str
    protocol: str
    stains: tuple[Stain, ...]
    controls: dict[str, str]
    description: str


LIVE = Stain("Live/Dead", "APC-H7-A", "FVS780")
CD45 = Stain("CD45", "APC-R700-A", "CD45 R700", optional="cd45")
PANELS = {
    "Treg": Panel("Treg", "treg", (
        Stain("CTV", "BV421-A", "CTV", optional="dye"), Stain("CD3", "BV510-A", "CD3 BV510"),
        Stain("CD4", "BV605-A", "CD4 BV605"), Stain("CD8", "PerCP-Cy5-5-A", "CD8 PerCP-Cy5.5", optional="cd8"),
        Stain("CD25", "PE-A", "CD25 PE"), Stain("CD127", "PE-Cy7-A", "CD127 PE-Cy7"),
        Stain("Foxp3", "APC-A", "Foxp3 AF647"), CD45, LIVE,
    ), {"Foxp3": "fmo"}, "Regulatory T cells (OMIP-053-like, CD25/CD127/Foxp3)"),
    "Th": Panel("Th", "th_ics", (
        Stain("IFN-gamma", "BV421-A", "IFN-gamma BV421"), Stain("CD3", "BV510-A", "CD3 BV510"),
        Stain("CD4", "BV605-A", "CD4 BV605"), Stain("CD8", "FITC-A", "CD8 FITC", optional="cd8"),
        Stain("IL-4", "PE-A", "IL-4 PE"), Stain("IL17A", "PE-Cy7-A", "IL17A PE-Cy7"), CD45, LIVE,
    ), {"IFN-gamma": "unstimulated", "IL17A": "unstimulated", "IL-4": "unstimulated"},
        "Th1/Th2/Th17 intracellular cytokines after PMA/ionomycin"),
    "Bcell": Panel("Bcell", "b_cells", (
        Stain("CD19", "BV421-A", "CD19 BV421"), Stain("CD3", "BV510-A", "CD3 BV510"),
        Stain("CD27", "BV605-A", "CD27 BV605"), Stain("IgD", "FITC-A", "IgD FITC"),
        Stain("CD24", "PE-A", "CD24 PE"), Stain("CD38", "PE-Cy7-A", "CD38 PE-Cy7"), CD45, LIVE,
    ), {}, "B-cell subsets: transitional CD24hi CD38hi, plasmablasts CD27hi CD38hi"),
    "NK": Panel("NK", "nk", (
        Stain("CD56", "BV421-A", "CD56 BV421"), Stain("CD3", "BV510-A", "CD3 BV510"),
        Stain("CD16", "FITC-A", "CD16 FITC"), Stain("NKG2D", "PE-A", "NKG2D PE"), CD45, LIVE,
    ), {}, "NK cells: CD56bright / CD56dim, NKG2D"),
}


@dataclass(frozen=True)
class Condition:
    """A culture of the design."""

    code: str
    condition: str
    msc_ratio: str
    stimulus: str
    control_type: str = ""

    @property
    def weight(self) -> float:
        """Share of the planted (1:5) MSC effect this culture carries."""
        return {"1:5": 1.0, "1:25": 0.5}.get(self.msc_ratio, 0.0)


STIMULUS = "CD3/CD28 beads"
CONDITIONS = (
    Condition("S", "Stim", "", STIMULUS),
    Condition("SM5", "Stim+MSC", "1:5", STIMULUS),
    Condition("SM25", "Stim+MSC", "1:25", STIMULUS),
    Condition("U", "Unstim", "", "none", "unstimulated"),
)


@dataclass(frozen=True)
class Effect:
    """A planted MSC effect: mean log2 change at 1:5 (half at 1:25), donor-to-donor SD."""

    log2: float
    sd: float = 0.12


#: Planted effects: catalogue effect id -> effect; they move the fractions (or concentrations) below.
EFFECTS = {
    "treg_frequency": Effect(0.6), "th1_frequency": Effect(-1.2), "th17_frequency": Effect(-0.8),
    "th2_frequency": Effect(0.5), "b_transitional": Effect(0.65), "plasmablast_frequency": Effect(-1.0),
    "nk_cd56bright": Effect(0.4), "ifng": Effect(-1.5), "il10": Effect(1.0),
}
_EFFECT_OF = {"treg": "treg_frequency", "th1": "th1_frequency", "th17": "th17_frequency",
              "th2": "th2_frequency", "b_transitional": "b_transitional", "plasmablast": "plasmablast_frequency",
              "nk_bright": "nk_cd56bright", "IFN-gamma": "ifng", "IL-10": "il10"}

# Donor baselines in stimulated cultures: fraction of the parent, (mean, SD); unstimulated values replace some.
_BASE = {
    "treg": (0.065, 0.012), "activated": (0.20, 0.04), "foxp3_activated": (0.012, 0.003),
    "th1": (0.13, 0.03), "th17": (0.015, 0.004), "th1_17": (0.003, 0.001), "th2": (0.025, 0.008),
    "b_unswitched": (0.10, 0.02), "b_switched": (0.14, 0.03), "b_dn": (0.05, 0.01),
    "b_transitional": (0.035, 0.006), "plasmablast": (0.05, 0.012),
    "nk_bright": (0.09, 0.015), "nk_dim_cd16neg": (0.14, 0.03), "divided": (0.65, 0.08),
}
_UNSTIM = {"activated": 0.02, "foxp3_activated": 0.003, "th1": 0.002, "th17": 0.001, "th1_17": 0.0003,
           "th2": 0.002, "plasmablast": 0.015, "divided": 0.03}
_CYTOKINE = {"IFN-gamma": (4000.0, 0.4, 0.01), "IL-10": (250.0, 0.3, 0.2)}  # median pg/mL, log SD, unstim share
_CULTURE_SD = 0.04


@dataclass
class OtherLabDesign:
    """Parameters of the other lab's study.

    Attributes
    ----------
    donors
        Number of PBMC donors (HD01, HD02, ...).
    events
        Events per FCS file.
    seed
        Random seed (the same seed gives the same files).
    panels
        Panels acquired on every culture (names in :data:`PANELS`).
    dye, cd8, cd45
        Whether the panels carry the proliferation dye (Treg panel), CD8 (T-cell panels) and CD45 (all).
    null
        Plant no MSC effect.
    """

    donors: int = 6
    events: int = 20000
    seed: int = 0
    panels: tuple[str, ...] = ("Treg", "Th", "Bcell", "NK")
    dye: bool = True
    cd8: bool = True
    cd45: bool = True
    null: bool = False
    effects: dict[str, Effect] = field(default_factory=lambda: dict(EFFECTS))

    def stains(self, panel: Panel) -> tuple[Stain, ...]:
        """The stains of ``panel`` in this design."""
        keep = {"": True, "dye": self.dye, "cd8": self.cd8, "cd45": self.cd45}
        return tuple(s for s in panel.stains if keep[s.optional])


def _logit_draw(mean: float, sd: float, rng: np.random.Generator) -> float:
    sd_logit = sd / (mean * (1 - mean))
    x = math.log(mean / (1 - mean)) + sd_logit * rng.standard_normal()
    return 1 / (1 + math.exp(-x))


def _spill(detectors: tuple[str, ...]) -> np.ndarray:
    m = np.eye(len(detectors))
    for (a, b), v in _SPILL.items():
        if a in detectors and b in detectors:
            m[detectors.index(a), detectors.index(b)] = v
    return m


def _lognormal(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    return median * np.exp(sigma * rng.standard_normal(n))


def _pick(rng: np.random.Generator, idx: np.ndarray, labels: dict[str, float], rest: str) -> np.ndarray:
    names = np.array([*labels, rest], dtype=object)
    p = np.array([*labels.values()])
    return names[rng.choice(len(names), size=len(idx), p=[*p, 1 - p.sum()])]


def _events(fr: dict[str, float], panel: Panel, stains: tuple[Stain, ...], n: int, msc: float, stimulated: bool,
            rng: np.random.Generator, omit: str | None) -> tuple[np.ndarray, list[str], list[str], dict]:
    """Draw one acquisition; return events, $PnN, $PnS and the true populations (% of parent)."""
    top = {"debris": 0.05, "doublet": 0.03, "monocyte": 0.06, "msc": msc}
    kind = _pick(rng, np.arange(n), top, "lymph")
    lymph = np.flatnonzero(kind == "lymph")
    kind[lymph] = _pick(rng, lymph, {"dead": 0.07, "cd4": 0.40, "cd8": 0.20, "dn_t": 0.04, "b": 0.13, "nk": 0.11},
                        "other")
    state = np.full(n, "", dtype=object)
    cd4, b, nk = (np.flatnonzero(kind == k) for k in ("cd4", "b", "nk"))
    if panel.name == "Treg":
        state[cd4] = _pick(rng, cd4, {k: fr[k] for k in ("treg", "activated", "foxp3_activated")}, "conv")
    elif panel.name == "Th":
        state[cd4] = _pick(rng, cd4, {k: fr[k] for k in ("th1", "th17", "th1_17", "th2")}, "none")
    state[b] = _pick(rng, b, {k: fr[k] for k in ("b_unswitched", "b_switched", "b_dn", "b_transitional",
                                                  "plasmablast")}, "b_naive")
    state[nk] = _pick(rng, nk, {"nk_bright": fr["nk_bright"], "nk_dim_cd16neg": fr["nk_dim_cd16neg"]}, "nk_dim")
    divided = rng.uniform(size=n) < fr["divided"]
    generation = np.where(divided & np.isin(kind, ("cd4", "cd8", "dn_t")), 1 + rng.binomial(5, 0.4, n), 0)

    def on(select: str) -> np.ndarray:
        k, _, s = select.partition(".")
        return (kind == k) & (state == s) if s else kind == k

    lymph_kinds = np.isin(kind, ("cd4", "cd8", "dn_t", "b", "nk", "other"))
    t = np.isin(kind, ("cd4", "cd8", "dn_t"))
    true: dict[str, np.ndarray] = {}

    def expr(marker: str, rules: list[tuple[np.ndarray, float, float]]) -> None:
        v = np.zeros(n)
        for mask, median, sigma in rules:
            v[mask] = _lognormal(rng, median, sigma, int(mask.sum()))
        true[marker] = v

    expr("CD45", [(lymph_kinds, 7000, 0.25), (kind == "monocyte", 4500, 0.25), (kind == "dead", 3000, 0.4)])
    expr("Live/Dead", [(kind == "dead", 25000, 0.3), ((kind == "debris") & (rng.uniform(size=n) < 0.4), 9000, 0.5)])
    expr("CD3", [(t, 6000, 0.3)])
    expr("CD4", [(on("cd4"), 1800 if panel.name == "Th" and stimulated else 3500, 0.3), (kind == "monocyte", 700, 0.3)])
    expr("CD8", [(on("cd8"), 9000, 0.3)])
    # Activated conventional CD4 T cells sit next to the Treg cluster: CD25 high, CD127 intermediate.
    expr("CD25", [(on("cd4") | on("cd8"), 120, 0.8), (on("cd4.activated"), 3500, 0.45),
                  (on("cd4.foxp3_activated"), 3000, 0.4), (on("cd4.treg"), 9000, 0.35)])
    expr("CD127", [(on("cd4") | on("cd8"), 3500, 0.3), (on("cd4.activated"), 1000, 0.4),
                   (on("cd4.treg"), 220, 0.5)])
    expr("Foxp3", [(on("cd4.treg"), 5000, 0.3), (on("cd4.foxp3_activated"), 2500, 0.35)])
    expr("CTV", [(lymph_kinds | (kind == "dead") | (kind == "monocyte"), 50000, 0.15)])
    true["CTV"] = true["CTV"] * 2.0 ** -generation.astype(float)
    expr("IFN-gamma", [(on("cd4.th1") | on("cd4.th1_17"), 6000, 0.45)])
    expr("IL17A", [(on("cd4.th17") | on("cd4.th1_17"), 3500, 0.45)])
    expr("IL-4", [(on("cd4.th2"), 2500, 0.45)])
    expr("CD19", [(on("b"), 6000, 0.3), (on("b.plasmablast"), 2000, 0.35)])
    expr("IgD", [(on("b.b_naive") | on("b.b_transitional"), 7000, 0.35), (on("b.b_unswitched"), 4500, 0.35)])
    expr("CD27", [(on("b.b_unswitched") | on("b.b_switched"), 3500, 0.35), (on("b.plasmablast"), 18000, 0.3),
                  (t, 1500, 0.5)])
    expr("CD24", [(on("b"), 2000, 0.35), (on("b.b_unswitched") | on("b.b_switched"), 6500, 0.35),
                  (on("b.b_dn"), 1200, 0.4), (on("b.b_transitional"), 11000, 0.3), (on("b.plasmablast"), 100, 0.6)])
    expr("CD38", [(on("b"), 300, 0.5), (on("b.b_naive"), 1200, 0.4), (on("b.b_transitional"), 9000, 0.3),
                  (on("b.plasmablast"), 35000, 0.3), (t, 400, 0.6)])
    expr("CD56", [(on("nk"), 2500, 0.3), (on("nk.nk_bright"), 16000, 0.3), (on("dn_t"), 1200, 0.5)])
    expr("CD16", [(on("nk.nk_dim"), 9000, 0.35), (kind == "monocyte", 1500, 0.5)])
    expr("NKG2D", [(on("nk"), 3000, 0.35), (on("cd8"), 1500, 0.4)])
    if omit is not None:
        true[omit] = np.zeros(n)

    detectors = tuple(s.detector for s in stains)
    order = [d for d in DETECTORS if d in detectors]
    by_det = {s.detector: s for s in stains}
    signal = np.column_stack([true[by_det[d].marker] for d in order]) @ _spill(tuple(order))
    autofl = np.where(kind == "msc", 1800.0, np.where(kind == "monocyte", 250.0, 70.0))
    autofl = autofl * np.exp(0.3 * rng.standard_normal(n))
    signal += autofl[:, None] * np.array([_AUTOFL[d] for d in order]) + rng.normal(0, 40.0, (n, len(order)))

    # Scatter: lymphocytes, larger blasts (plasmablasts, dividing T cells), dead, myeloid, MSC, debris.
    shape = {"lymph": (70000, 0.11, 20000, 0.22), "dead": (42000, 0.2, 30000, 0.3),
             "monocyte": (110000, 0.12, 65000, 0.2), "msc": (200000, 0.12, 120000, 0.2),
             "debris": (14000, 0.6, 8000, 0.7), "doublet": (70000, 0.11, 20000, 0.22)}
    group = np.where(lymph_kinds, "lymph", kind)
    fsc = np.zeros(n)
    ssc = np.zeros(n)
    for g, (f, fs, s, ss) in shape.items():
        idx = group == g
        fsc[idx] = _lognormal(rng, f, fs, int(idx.sum()))
        ssc[idx] = _lognormal(rng, s, ss, int(idx.sum()))
    blast = on("b.plasmablast")
    fsc[blast] *= 1.15
    ssc[blast] *= 1.1
    dbl = kind == "doublet"
    fsc[dbl] += _lognormal(rng, 70000, 0.11, int(dbl.sum()))
    ssc[dbl] += _lognormal(rng, 20000, 0.22, int(dbl.sum()))
    fsc_h = fsc * np.where(dbl, 0.5, 0.88) * (1 + 0.03 * rng.standard_normal(n))
    ssc_w = ssc / np.where(dbl, 0.55, 0.9) * (1 + 0.03 * rng.standard_normal(n)) / 4
    time = np.sort(rng.uniform(0, 2000.0, n))
    data = np.column_stack([fsc, fsc_h, ssc, ssc_w, signal, time])
    data[:, :-1] = np.clip(data[:, :-1], -5000, RANGE)
    pnn = [*SCATTER, *order, "Time"]
    pns = ["", "", "", "", *(by_det[d].pns for d in order), ""]
    return data.astype(np.float32), pnn, pns, _truth(panel.name, kind, state, generation, omit)


def _pct(member: np.ndarray, parent: np.ndarray) -> float:
    return round(100.0 * float((member & parent).sum()) / max(int(parent.sum()), 1), 4)


def _truth(panel: str, kind: np.ndarray, state: np.ndarray, generation: np.ndarray,
           omit: str | None = None) -> dict[str, dict]:
    """Population -> {parent, percent} of the realised events, named as the built-in protocols report them.

    An FMO tube has no truth for the populations its left-out marker defines (Treg without Foxp3).
    """
    cd4 = kind == "cd4"
    b = kind == "b"
    nk = kind == "nk"
    out: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}
    if panel == "Treg":
        if omit != "Foxp3":
            out["Treg"] = ("CD4", state == "treg", cd4)
        out["CD4 divided"] = ("CD4", generation > 0, cd4)
    elif panel == "Th":
        out |= {"Th1": ("CD4", state == "th1", cd4), "Th17": ("CD4", state == "th17", cd4),
                "Th1/17": ("CD4", state == "th1_17", cd4), "Th2": ("CD4", state == "th2", cd4)}
    elif panel == "Bcell":
        cd27neg = b & np.isin(state, ("b_naive", "b_dn", "b_transitional"))
        out |= {"Transitional B": ("CD27- B", state == "b_transitional", cd27neg),
                "Plasmablasts": ("B cells", state == "plasmablast", b)}
    elif panel == "NK":
        out |= {"CD56bright": ("NK cells", state == "nk_bright", nk),
                "CD56dim": ("NK cells", state == "nk_dim", nk)}
        if omit != "NKG2D":  # every NK cell is planted NKG2D+ (one population, no negative NK cells)
            out["NKG2D+ NK"] = ("NK cells", nk, nk)
    return {name: {"parent": parent, "percent": _pct(member, base), "parent_count": int(base.sum())}
            for name, (parent, member, base) in out.items()}


def _write_fcs(path: Path, data: np.ndarray, pnn: list[str], pns: list[str], meta: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        flowio.create_fcs(handle, data.ravel(), pnn, opt_channel_names=pns, metadata_dict=meta)


def _spill_keyword(pnn: list[str]) -> str:
    dets = [c for c in pnn if c in DETECTORS]
    m = _spill(tuple(dets))
    return ",".join([str(len(dets)), *dets, *(f"{v:g}" for v in m.ravel())])


def _four_pl(x: np.ndarray, top: float) -> np.ndarray:
    a, b, c, d = 0.06, 1.2, 0.4 * top, 3.4
    return d + (a - d) / (1 + (np.asarray(x, float) / c) ** b)


def _elisa(out: Path, analyte: str, stem: str, conc: dict[str, float], top: float, dilution: float,
           rng: np.random.Generator) -> list[dict]:
    """Plates of one analyte: samples in duplicate down the columns 1-10, standards in 11-12, blank in H11-12."""
    rows = "ABCDEFGH"
    ids = list(conc)
    per_plate = 40
    assays = []
    for k in range(0, len(ids), per_plate):
        plate = f"{stem}-P{k // per_plate + 1}"
        codes: dict[str, str] = {}
        in_well: dict[str, float] = {}
        for level in range(7):
            for col in (11, 12):
                codes[f"{rows[level]}{col}"] = f"STD{level + 1}"
                in_well[f"{rows[level]}{col}"] = top / 2 ** level
        for col in (11, 12):
            codes[f"H{col}"] = "BLK"
            in_well[f"H{col}"] = 0.0
        dil: dict[str, str] = {}
        for j, sid in enumerate(ids[k:k + per_plate]):
            col, row = 1 + j // 4, 2 * (j % 4)
            for r in (row, row + 1):
                well = f"{rows[r]}{col}"
                codes[well] = sid
                dil[well] = f"{dilution:g}"
                in_well[well] = conc[sid] / dilution
        # The reader reads all 96 wells; the unused ones (empty in the layout) read as blanks.
        wells = [f"{r}{c}" for r in rows for c in range(1, 13)]
        od = _four_pl(np.array([in_well.get(w, 0.0) for w in wells]), top)
        od = od * (1 + 0.03 * rng.standard_normal(len(od))) + 0.004 * rng.standard_normal(len(od))
        reads = dict(zip(wells, od, strict=True))
        grid = io.StringIO()
        grid.write(f"Plate;{plate}\nAnalyte;{analyte}\nRead;450\n;" + ";".join(map(str, range(1, 13))) + "\n")
        for r in rows:
            grid.write(r + ";" + ";".join(f"{reads[f'{r}{c}']:.4f}" if f"{r}{c}" in reads else ""
                                          for c in range(1, 13)) + "\n")
        layout = io.StringIO()
        layout.write(f"Plate,{plate}\nTop concentration,{top:g}\nDilution factor,2\nUnit,pg/mL\n")
        for name, cells in (("", codes), ("dilution", dil)):
            layout.write(f"{name}," + ",".join(map(str, range(1, 13))) + "\n")
            for r in rows:
                layout.write(r + "," + ",".join(cells.get(f"{r}{c}", "") for c in range(1, 13)) + "\n")
            layout.write("\n")
        (out / "ELISA").mkdir(parents=True, exist_ok=True)
        (out / "ELISA" / f"{plate}.csv").write_text(grid.getvalue(), encoding="utf-8")
        (out / "ELISA" / f"{plate} layout.csv").write_text(layout.getvalue(), encoding="utf-8")
        assays.append({"id": plate, "file": f"ELISA/{plate}.csv", "format": "grid",
                       "layout": f"ELISA/{plate} layout.csv", "analyte": analyte, "unit": "pg/mL"})
    return assays


_COLUMNS = ("sample_id", "file", "panel", "plate", "well", "donor", "condition", "msc_ratio", "stimulus",
            "culture", "msc_source", "msc_licensing", "timepoint", "replicate", "control_type", "control_for")


def write_study(out: str | Path, design: OtherLabDesign | None = None) -> dict:
    """Write the other lab's study to ``out`` and return its truth (also written to ``truth.json``).

    Writes ``experiment.yaml``, ``Sample sheet.csv`` (semicolon, UTF-8 BOM), ``FCS/*.fcs``,
    ``ELISA/*.csv`` and ``truth.json``.
    """
    design = design or OtherLabDesign()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    effects = {} if design.null else design.effects
    root = np.random.SeedSequence([design.seed, 13019])
    rows: list[dict[str, str]] = []
    samples: dict[str, dict] = {}
    concentrations: dict[str, dict[str, float]] = {a: {} for a in _CYTOKINE}
    planted: dict[str, dict[str, float]] = {e: {} for e in effects}
    tube = 0

    def acquire(sample_id: str, donor: str, cond: Condition, panel: Panel, fr: dict[str, float],
                rng: np.random.Generator, omit: str | None = None) -> None:
        nonlocal tube
        tube += 1
        plate = f"PL0412-{1 + (tube - 1) // 96}"
        index = (tube - 1) % 96
        well = f"{'ABCDEFGH'[index % 8]}{index // 8 + 1}"
        stains = design.stains(panel)
        data, pnn, pns, truth = _events(fr, panel, stains, design.events, 0.03 * cond.weight,
                                        cond.stimulus != "none", rng, omit)
        name = f"Specimen_{tube:03d}_{sample_id}_{panel.name}.fcs"
        meta = {"SPILL": _spill_keyword(pnn), "TUBE NAME": f"{sample_id} {panel.name}", "$SRC": sample_id,
                "EXPERIMENT NAME": "MSC coculture 0412", "WELL ID": well, "PLATE NAME": plate,
                "$CYT": "4-laser analyser", "$FIL": name}
        _write_fcs(out / "FCS" / name, data, pnn, pns, meta)
        rows.append({"sample_id": sample_id, "file": f"FCS/{name}", "panel": panel.name, "plate": plate,
                     "well": well, "donor": donor, "condition": cond.condition, "msc_ratio": cond.msc_ratio,
                     "stimulus": cond.stimulus, "culture": "contact", "msc_source": "UC" if cond.msc_ratio else "",
                     "msc_licensing": "none" if cond.msc_ratio else "", "timepoint": "day 5", "replicate": "1",
                     "control_type": "fmo" if omit else cond.control_type, "control_for": omit or ""})
        samples.setdefault(sample_id, {"donor": donor, "condition": cond.condition, "msc_ratio": cond.msc_ratio,
                                       "stimulus": cond.stimulus, "control_type": rows[-1]["control_type"],
                                       "panels": {}})["panels"][panel.name] = truth

    for d, seed in enumerate(root.spawn(design.donors), start=1):
        donor = f"HD{d:02d}"
        rng = np.random.default_rng(seed)
        base = {k: _logit_draw(m, s, rng) for k, (m, s) in _BASE.items()}
        sizes = {e: eff.log2 + eff.sd * rng.standard_normal() for e, eff in effects.items()}
        for e, v in sizes.items():
            planted[e][donor] = round(v, 4)
        cyto = {a: med * math.exp(sd * rng.standard_normal()) for a, (med, sd, _) in _CYTOKINE.items()}
        stim_fr = None
        for cond in CONDITIONS:
            fr = dict(base)
            if cond.stimulus == "none":
                fr.update(_UNSTIM)
            for key in fr:
                eff = _EFFECT_OF.get(key)
                if eff in sizes and cond.weight:
                    fr[key] = min(0.9, fr[key] * 2.0 ** (cond.weight * sizes[eff]))
                fr[key] *= math.exp(_CULTURE_SD * rng.standard_normal())
            if stim_fr is None:
                stim_fr = fr
            sample_id = f"{donor}-{cond.code}"
            for name in design.panels:
                acquire(sample_id, donor, cond, PANELS[name], fr, rng)
            for analyte, (_, _, unstim) in _CYTOKINE.items():
                value = cyto[analyte] * (unstim if cond.stimulus == "none" else 1.0)
                eff = _EFFECT_OF[analyte]
                if eff in sizes:
                    value *= 2.0 ** (cond.weight * sizes[eff])
                concentrations[analyte][sample_id] = value * math.exp(_CULTURE_SD * rng.standard_normal())
            samples[sample_id]["concentrations"] = {a: round(concentrations[a][sample_id], 4) for a in _CYTOKINE}
        if "Treg" in design.panels:
            acquire(f"{donor}-FMO-Foxp3", donor, CONDITIONS[0], PANELS["Treg"], stim_fr, rng, omit="Foxp3")

    elisa_rng = np.random.default_rng(root.spawn(1)[0])
    assays = [*_elisa(out, "IFN-gamma", "IFNg", concentrations["IFN-gamma"], 2000.0, 5.0, elisa_rng),
              *_elisa(out, "IL-10", "IL10", concentrations["IL-10"], 1000.0, 1.0, elisa_rng)]
    sheet = io.StringIO()
    sheet.write(";".join(_COLUMNS) + "\r\n")
    for row in rows:
        sheet.write(";".join(row[c] for c in _COLUMNS) + "\r\n")
    (out / "Sample sheet.csv").write_bytes(b"\xef\xbb\xbf" + sheet.getvalue().encode("utf-8"))
    manifest = {
        "name": "MSC co-culture, 0412 (other lab)",
        "description": "Cord MSCs with CD3/CD28 bead-stimulated PBMC for 5 days; ICS after PMA/ionomycin.",
        "samplesheet": "Sample sheet.csv",
        "context": "in_vitro_human",
        "plate_format": 96,
        "panels": {
            name: {"protocol": PANELS[name].protocol,
                   "markers": {s.detector: s.marker for s in design.stains(PANELS[name])},
                   "controls": dict(PANELS[name].controls), "description": PANELS[name].description}
            for name in design.panels
        },
        "assays": assays,
        "contrasts": [
            {"name": name, "treatment": {"condition": "Stim+MSC", "msc_ratio": ratio},
             "control": {"condition": "Stim"}, "pair_by": "donor"}
            for name, ratio in (("MSC 1:5", "1:5"), ("MSC 1:25", "1:25"))
        ],
    }
    (out / "experiment.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True),
                                         encoding="utf-8")
    truth = {
        "design": {k: v for k, v in asdict(design).items() if k != "effects"}
        | {"effects": {e: asdict(v) for e, v in effects.items()}},
        "effects": {e: {"log2_at_1to5": eff.log2, "per_donor": planted[e],
                        "direction": "up" if eff.log2 > 0 else "down"} for e, eff in effects.items()},
        "samples": samples,
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return truth


def population_table(truth: dict):
    """Truth as a long table: sample_id, panel, population, parent, percent (pandas DataFrame)."""
    import pandas as pd

    return pd.DataFrame([
        {"sample_id": sid, "panel": panel, "population": pop, "parent": v["parent"], "percent": v["percent"],
         "control_type": s["control_type"]}
        for sid, s in truth["samples"].items() for panel, pops in s["panels"].items() for pop, v in pops.items()
    ])


_CACHE: dict[tuple, tuple[Path, dict]] = {}


def study_factory(tmp_path_factory):
    """Return ``make(**design) -> (folder, truth)``, writing each distinct design once per test session."""

    def make(**kwargs) -> tuple[Path, dict]:
        design = OtherLabDesign(**kwargs)
        key = tuple(sorted((k, v if not isinstance(v, (list, dict)) else repr(v)) for k, v in kwargs.items()))
        if key not in _CACHE:
            folder = tmp_path_factory.mktemp("otherlab")
            _CACHE[key] = (folder, write_study(folder, design))
        return _CACHE[key]

    return make


__all__ = ["CONDITIONS", "EFFECTS", "PANELS", "OtherLabDesign", "population_table", "study_factory", "write_study"]
