"""A simulated 3-laser cytometer and the cells it sees.

Events are drawn per sample from a mixture of debris, doublets, monocytes,
carried-over MSCs, dead cells and lymphocyte subsets (or, for myeloid and MSC
panels, the mixture the panel names). Each cell has a true intensity per
fluorochrome; detectors see those intensities through a spillover matrix,
plus autofluorescence and noise, as a real instrument does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .phenotype import Expression, Flag, Subsets, apply_expression, assign_subsets, draw_flags

#: Detector ($PnN) of each fluorochrome.
DETECTORS = {
    "BV421": "V450-A",
    "BV510": "V525-A",
    "FITC": "B530-A",
    "PerCP-Cy5.5": "B695-A",
    "PE": "YG582-A",
    "PE-Cy7": "YG780-A",
    "APC": "R670-A",
    "AF700": "R730-A",
    "APC-Cy7": "R780-A",
}
FLUOROCHROMES = tuple(DETECTORS)
#: Detectors beyond the nine every file carries; a file has them only when its panel stains them.
EXTRA_DETECTORS = {"BV605": "V610-A"}
ALL_DETECTORS = DETECTORS | EXTRA_DETECTORS
SCATTER = ("FSC-A", "FSC-H", "SSC-A", "SSC-H")
RANGE = 262144
TIMESTEP = 0.01

# Spillover of each fluorochrome (row) into each detector (column), fraction of
# its own detector's signal. Typical of a violet/blue/yellow-green/red instrument.
_SPILL = {
    ("BV421", "V525-A"): 0.12, ("BV510", "V450-A"): 0.02, ("BV510", "B530-A"): 0.06,
    ("FITC", "V525-A"): 0.03, ("FITC", "YG582-A"): 0.02, ("FITC", "B695-A"): 0.02,
    ("PerCP-Cy5.5", "YG780-A"): 0.06, ("PerCP-Cy5.5", "R730-A"): 0.12,
    ("PE", "B530-A"): 0.01, ("PE", "B695-A"): 0.08, ("PE", "YG780-A"): 0.03,
    ("PE-Cy7", "YG582-A"): 0.02, ("PE-Cy7", "R780-A"): 0.05,
    ("APC", "R730-A"): 0.18, ("APC", "R780-A"): 0.04,
    ("AF700", "R670-A"): 0.03, ("AF700", "R780-A"): 0.10,
    ("APC-Cy7", "R730-A"): 0.06, ("APC-Cy7", "YG780-A"): 0.04,
    ("BV421", "V610-A"): 0.01, ("BV510", "V610-A"): 0.08, ("BV605", "V525-A"): 0.01,
    ("BV605", "YG582-A"): 0.04, ("BV605", "B695-A"): 0.03, ("PE", "V610-A"): 0.02,
}


def spillover_matrix(detectors: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The instrument's spillover matrix, detectors x detectors (rows: the dye's own detector).

    Parameters
    ----------
    detectors
        The detectors of one acquisition; the nine every file carries by default.
    """
    names = list(ALL_DETECTORS.values())
    matrix = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for (dye, detector), value in _SPILL.items():
        matrix.loc[ALL_DETECTORS[dye], detector] = value
    keep = list(detectors or DETECTORS.values())
    return matrix.loc[keep, keep]


# Fractions of all events before lymphocytes (debris, doublets, myeloid) and of
# lymphocytes that are dead: typical of a 3-5 day PBMC culture.
_DEBRIS, _DOUBLETS, _MONOCYTES, _DEAD = 0.06, 0.04, 0.05, 0.08
_B_OF_NON_T, _NK_OF_NON_T = 0.4, 0.4
#: Event types of a PBMC culture before the lymphocytes (which take the rest); ``None``: MSC carry-over.
PBMC_MIXTURE: tuple[tuple[str, float | None], ...] = (
    ("debris", _DEBRIS), ("doublet", _DOUBLETS), ("monocyte", _MONOCYTES), ("msc", None))


@dataclass(frozen=True)
class PanelDesign:
    """A simulated staining panel.

    Attributes
    ----------
    name
        Panel name.
    stains
        Marker -> fluorochrome.
    states
        The CD4 T-cell states the T-cell model draws: helper states (ICS),
        regulatory states (Treg) or none.
    description
        One line for the experiment manifest.
    controls
        Marker -> control that sets its threshold (``fmo`` or ``unstimulated``).
    mixture
        (event type, fraction of all events) of the acquired sample before
        ``rest``, which takes what is left; a fraction of ``None`` is the MSC
        carry-over, ``msc_scale`` times the culture's MSC fraction.
    rest
        Event type taking the rest: ``lymph`` (split into dead cells and
        lymphocyte subsets) or a cell type.
    msc_scale
        MSC carry-over relative to a lymphocyte harvest.
    subsets, flags, expression
        Phenotype rules beyond the T-cell model (:mod:`msclab.simulate.phenotype`).
    scatter_gain
        FSC/SSC gain relative to the lymphocyte setting (lower for large cells).
    source
        ``culture`` (stained on every PBMC culture) or ``msc`` (on the MSC lot).
    """

    name: str
    stains: dict[str, str]
    states: tuple[str, ...]
    description: str = ""
    controls: dict[str, str] = field(default_factory=dict)
    mixture: tuple[tuple[str, float | None], ...] = PBMC_MIXTURE
    rest: str = "lymph"
    msc_scale: float = 1.0
    subsets: tuple[Subsets, ...] = ()
    flags: tuple[Flag, ...] = ()
    expression: tuple[Expression, ...] = ()
    scatter_gain: float = 1.0
    source: str = "culture"

    @property
    def fluorochromes(self) -> tuple[str, ...]:
        """Fluorochromes of the acquisition: the nine every file carries, then extra ones stained."""
        return FLUOROCHROMES + tuple(d for d in EXTRA_DETECTORS if d in self.stains.values())

    @property
    def detectors(self) -> tuple[str, ...]:
        """Fluorescence detectors ($PnN) of the acquisition."""
        return tuple(ALL_DETECTORS[dye] for dye in self.fluorochromes)

    @property
    def markers(self) -> dict[str, str]:
        """Detector -> marker, as an experiment manifest states it."""
        return {ALL_DETECTORS[dye]: marker for marker, dye in self.stains.items()}

    @property
    def fmo_markers(self) -> tuple[str, ...]:
        """Markers with an FMO control tube."""
        return tuple(m for m, kind in self.controls.items() if kind == "fmo")

    @property
    def cell_types(self) -> tuple[str, ...]:
        """Categories of the ``cell_type`` label."""
        extra = [t for t, _ in self.mixture if t not in CELL_TYPES]
        return CELL_TYPES + tuple(extra) + ((self.rest,) if self.rest not in (*CELL_TYPES, "lymph", *extra) else ())

    @property
    def state_names(self) -> tuple[str, ...]:
        """Categories of the ``state`` label."""
        names = [n for rule in self.subsets for n in (*(s for s, _ in rule.states), rule.rest)]
        return STATES + tuple(dict.fromkeys(n for n in names if n not in STATES))


HELPER_STATES = ("th1", "th17", "th1_17", "th2")
REGULATORY_STATES = ("treg", "foxp3_activated", "activated")
TH_ICS = PanelDesign("th_ics", {
    "CD45": "BV421", "Viability": "BV510", "CD3": "FITC", "CD8": "PerCP-Cy5.5",
    "IL-4": "PE", "IL-17A": "PE-Cy7", "IFN-g": "APC", "CD4": "APC-Cy7",
}, HELPER_STATES, description="T-helper intracellular cytokines",
    controls={"IFN-g": "unstimulated", "IL-17A": "unstimulated", "IL-4": "unstimulated"})
TREG = PanelDesign("treg", {
    "CellTrace Violet": "BV421", "Viability": "BV510", "CD3": "FITC", "CD8": "PerCP-Cy5.5",
    "CD25": "PE", "CD127": "PE-Cy7", "FoxP3": "APC", "CD45": "AF700", "CD4": "APC-Cy7",
}, REGULATORY_STATES, description="Treg with CellTrace Violet proliferation", controls={"FoxP3": "fmo"})

#: Event types (``cell_type`` label) and T-cell states (``state`` label) of the T-cell panels.
CELL_TYPES = ("debris", "doublet", "monocyte", "msc", "dead", "cd4", "cd8", "dn_t", "b", "nk", "other")
STATES = ("none", "th1", "th17", "th1_17", "th2", "tc1", "treg", "foxp3_activated", "activated")


@dataclass
class SampleComposition:
    """What one culture contains, as fractions (the planted truth for one sample).

    Fractions of T-cell states are of their parent (CD4 or CD8); ``divided_*``
    is the fraction of cells that divided at least once.
    """

    msc_fraction: float
    t_of_lymph: float
    cd4_of_t: float
    cd8_of_t: float
    th1: float
    th17: float
    th1_17: float
    th2: float
    tc1: float
    treg: float
    foxp3_activated: float
    activated: float
    divided_cd4: float
    divided_cd8: float
    stimulated: bool


def _lognormal(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    return median * np.exp(sigma * rng.standard_normal(n))


#: Acquisition problems a study can plant in some of its tubes (``StudyDesign.hard``), and what each does.
#: Each is a common cause of a wrong automated gate (Finak et al., Sci Rep 2016;6:20686, HIPC lyoplate:
#: staining and instrument settings dominate between-centre variation; Maecker & Trotter, Cytometry A
#: 2006;69:1037: resolution and negative-population position decide positivity).
ACQUISITION_PROBLEMS = {
    "low_events": "a short acquisition (a clog or little sample): one eighth of the events",
    "poor_separation": "weak antibody staining (an under-titrated or degraded cocktail): every antibody at one "
                       "quarter of its intensity, so positive and negative populations overlap (the dyes "
                       "stain as usual)",
    "shifted": "detector gains raised between this tube and the rest of the study, its controls included: "
               "every fluorescence signal doubled, so every population sits higher",
}
#: Events kept by a ``low_events`` tube, stain intensity of a ``poor_separation`` tube, fluorescence gain of a
#: ``shifted`` tube.
LOW_EVENTS_SHARE, WEAK_STAIN, GAIN_SHIFT = 1 / 8, 0.25, 2.0
#: Stains that are dyes, not antibodies (a weak antibody cocktail leaves them as they are).
DYES = ("Viability", "CellTrace Violet")


def draw_events(
    comp: SampleComposition, panel: PanelDesign, n_events: int, rng: np.random.Generator,
    omit: str | None = None, subsets: Mapping[str, float] | None = None, problem: str | None = None,
) -> tuple[np.ndarray, list[str], pd.DataFrame]:
    """Draw the events of one acquisition.

    Parameters
    ----------
    comp
        The culture's composition.
    panel
        The staining panel.
    n_events
        Events to acquire.
    rng
        Random generator.
    omit
        Marker left out of the stain (an FMO control).
    subsets
        Fractions of the panel's subsets and flags (:mod:`msclab.simulate.subsets`).
    problem
        An acquisition problem of :data:`ACQUISITION_PROBLEMS` (``low_events`` is the
        caller's: it draws fewer events), or None.

    Returns
    -------
    events
        float32 array, events x channels (scatter, fluorescence detectors, Time).
    channels
        The $PnN names of the columns.
    labels
        Per event: ``cell_type``, ``state``, ``generation`` (CellTrace
        divisions; -1 where not a T cell) and one boolean column per flag of
        the panel.
    """
    fractions = vars(comp) | dict(subsets or {})
    cell_type = _cell_types(comp, panel, n_events, rng)
    state = np.full(n_events, "none", dtype=object)
    generation = np.full(n_events, -1, dtype=np.int8)
    _assign_states(comp, fractions, panel, cell_type, state, generation, rng)
    assign_subsets(panel.subsets, fractions, cell_type, state, rng)
    flags = draw_flags(panel.flags, fractions, cell_type, rng)

    true = _true_intensities(cell_type, state, generation, comp, panel, flags, rng)
    if omit is not None:
        true[:, panel.fluorochromes.index(panel.stains[omit])] = 0.0
    if problem == "poor_separation":
        antibodies = [panel.fluorochromes.index(dye) for marker, dye in panel.stains.items() if marker not in DYES]
        true[:, antibodies] *= WEAK_STAIN
    doublets = np.flatnonzero(cell_type == "doublet")
    singles = np.flatnonzero(np.isin(cell_type, ["cd4", "cd8", "b", "nk", "dn_t"]))
    if len(doublets) and len(singles):
        pairs = rng.choice(singles, size=(len(doublets), 2))
        true[doublets] = true[pairs[:, 0]] + true[pairs[:, 1]]

    spill = spillover_matrix(panel.detectors).to_numpy()
    detected = true @ spill
    autofl = _autofluorescence(cell_type, rng)
    noise = rng.normal(0.0, 35.0, size=detected.shape)
    spectrum = np.array([_AUTOFL_SPECTRUM[d] for d in panel.detectors])
    fluorescence = detected + autofl[:, None] * spectrum[None, :] + noise
    if problem == "shifted":
        fluorescence *= GAIN_SHIFT

    scatter = _scatter(cell_type, rng) * panel.scatter_gain
    # Plasmablasts are larger than resting B cells (slightly higher FSC and SSC).
    blasts = (cell_type == "b") & (state == "plasmablast")
    scatter[blasts] *= _BLAST_SCATTER
    time = np.sort(rng.uniform(0, 120.0 / TIMESTEP, n_events))
    events = np.column_stack([scatter, fluorescence, time])
    events[:, :-1] = np.clip(events[:, :-1], -RANGE, RANGE - 1)
    channels = [*SCATTER, *panel.detectors, "Time"]
    labels = pd.DataFrame({
        "cell_type": pd.Categorical(cell_type, categories=panel.cell_types),
        "state": pd.Categorical(state, categories=panel.state_names),
        "generation": generation,
    } | flags)
    return events.astype(np.float32), channels, labels


def _cell_types(comp: SampleComposition, panel: PanelDesign, n: int, rng: np.random.Generator) -> np.ndarray:
    """Event types of one acquisition: the panel's mixture, the rest ``panel.rest``."""
    fractions = [comp.msc_fraction * panel.msc_scale if f is None else f for _, f in panel.mixture]
    rest = 1.0
    for f in fractions:
        rest -= f
    top = rng.choice(len(fractions) + 1, size=n, p=[*fractions, rest])
    cell_type = np.empty(n, dtype=object)
    for i, (name, _) in enumerate(panel.mixture):
        cell_type[top == i] = name
    others = np.flatnonzero(top == len(fractions))
    cell_type[others] = _lymphocyte_types(comp, len(others), rng) if panel.rest == "lymph" else panel.rest
    return cell_type


def _lymphocyte_types(comp: SampleComposition, n: int, rng: np.random.Generator) -> np.ndarray:
    p_t = (1 - _DEAD) * comp.t_of_lymph
    p_non_t = (1 - _DEAD) * (1 - comp.t_of_lymph)
    dn = 1 - comp.cd4_of_t - comp.cd8_of_t
    names = np.array(["dead", "cd4", "cd8", "dn_t", "b", "nk", "other"], dtype=object)
    probs = [_DEAD, p_t * comp.cd4_of_t, p_t * comp.cd8_of_t, p_t * dn,
             p_non_t * _B_OF_NON_T, p_non_t * _NK_OF_NON_T, p_non_t * (1 - _B_OF_NON_T - _NK_OF_NON_T)]
    return names[rng.choice(len(names), size=n, p=probs)]


def _assign_states(comp: SampleComposition, fractions: Mapping[str, float], panel: PanelDesign,
                   cell_type: np.ndarray, state: np.ndarray, generation: np.ndarray,
                   rng: np.random.Generator) -> None:
    cd4 = np.flatnonzero(cell_type == "cd4")
    cd8 = np.flatnonzero(cell_type == "cd8")
    probs = [fractions[name] for name in panel.states]
    if sum(probs) > 1:
        raise ValueError(f"CD4 state fractions {dict(zip(panel.states, probs, strict=True))} add up to more than 1")
    pick = rng.choice(len(panel.states) + 1, size=len(cd4), p=[*probs, 1 - sum(probs)])
    state[cd4] = np.array([*panel.states, "none"], dtype=object)[pick]
    if panel.states == HELPER_STATES:
        state[cd8] = np.where(rng.uniform(size=len(cd8)) < comp.tc1, "tc1", "none")
    for kind, divided in (("cd4", comp.divided_cd4), ("cd8", comp.divided_cd8), ("dn_t", comp.divided_cd8)):
        idx = np.flatnonzero(cell_type == kind)
        did = rng.uniform(size=len(idx)) < divided
        # Divided cells spread over generations 1-6 (binomial, 2-3 divisions on average).
        generation[idx] = np.where(did, 1 + rng.binomial(5, 0.35, size=len(idx)), 0)


_LYMPH = ("cd4", "cd8", "dn_t", "b", "nk", "other")
_T = ("cd4", "cd8", "dn_t")

# Relative autofluorescence seen by each detector (violet and blue highest).
_AUTOFL_SPECTRUM = {"V450-A": 1.0, "V525-A": 1.2, "B530-A": 0.8, "B695-A": 0.4, "YG582-A": 0.3, "YG780-A": 0.1,
                    "R670-A": 0.1, "R730-A": 0.08, "R780-A": 0.05, "V610-A": 0.6}
_AUTOFL_LEVEL = {"debris": 40, "doublet": 120, "monocyte": 220, "msc": 1500, "dead": 150, "macrophage": 400,
                 "cdc": 150, "pdc": 100}


def _autofluorescence(cell_type: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    level = np.array([_AUTOFL_LEVEL.get(t, 60) for t in cell_type], dtype=float)
    return level * np.exp(0.3 * rng.standard_normal(len(cell_type)))


def _expression(rule: dict[str, tuple[float, float]], keys: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lognormal intensities: key -> (median, sigma); keys not in the rule give 0."""
    out = np.zeros(len(keys))
    for key, (median, sigma) in rule.items():
        idx = np.flatnonzero(keys == key)
        out[idx] = _lognormal(rng, median, sigma, len(idx))
    return out


def _true_intensities(cell_type: np.ndarray, state: np.ndarray, generation: np.ndarray, comp: SampleComposition,
                      panel: PanelDesign, flags: Mapping[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """True fluorochrome intensity per event (before spillover, autofluorescence and noise).

    The T-cell model first, then the panel's own expression rules.
    """
    n = len(cell_type)
    lineage = {m: np.zeros(n) for m in panel.stains}
    ct = cell_type.astype(str)
    st = state.astype(str)
    t_cells = np.isin(ct, _T)

    def set_marker(marker: str, values: np.ndarray) -> None:
        if marker in lineage:
            lineage[marker] = values

    cd45 = _expression({t: (6000, 0.25) for t in _LYMPH} | {"monocyte": (4000, 0.25), "dead": (2500, 0.4),
                        "debris": (300, 1.0)}, ct, rng)
    set_marker("CD45", cd45)
    viability = _expression({"dead": (20000, 0.3)}, ct, rng)
    debris_dead = (ct == "debris") & (rng.uniform(size=n) < 0.5)
    viability[debris_dead] = _lognormal(rng, 12000, 0.5, int(debris_dead.sum()))
    set_marker("Viability", viability)
    set_marker("CD3", np.where(t_cells, _lognormal(rng, 5000, 0.3, n), 0.0))
    cd4_level = 2500 if comp.stimulated and "IFN-g" in panel.stains else 4000
    set_marker("CD4", _expression({"cd4": (cd4_level, 0.3), "monocyte": (800, 0.3)}, ct, rng))
    set_marker("CD8", _expression({"cd8": (7000, 0.3)}, ct, rng))
    cytokine = {"IFN-g": ("th1", "th1_17", "tc1"), "IL-17A": ("th17", "th1_17"), "IL-4": ("th2",)}
    medians = {"IFN-g": 5000, "IL-17A": 3000, "IL-4": 2500}
    for marker, states in cytokine.items():
        set_marker(marker, np.where(np.isin(st, states), _lognormal(rng, medians[marker], 0.45, n), 0.0))
    cd4 = ct == "cd4"
    cd25 = np.where(cd4 | (ct == "cd8"), _lognormal(rng, 150, 0.8, n), 0.0)
    for name, median in (("treg", 9000), ("foxp3_activated", 3500), ("activated", 2000)):
        idx = cd4 & (st == name)
        cd25[idx] = _lognormal(rng, median, 0.35, int(idx.sum()))
    set_marker("CD25", cd25)
    cd127 = np.where(cd4 | (ct == "cd8"), _lognormal(rng, 3000, 0.35, n), 0.0)
    treg = cd4 & (st == "treg")
    cd127[treg] = _lognormal(rng, 250, 0.5, int(treg.sum()))
    set_marker("CD127", cd127)
    set_marker("FoxP3", np.where(cd4 & np.isin(st, ("treg", "foxp3_activated")), _lognormal(rng, 4000, 0.35, n), 0.0))
    # CellTrace: every labelled cell starts near the same intensity and halves per division.
    ctv = np.where(np.isin(ct, (*_LYMPH, "dead", "monocyte")), _lognormal(rng, 40000, 0.18, n), 0.0)
    ctv = ctv * np.where(generation > 0, 2.0 ** -generation.astype(float), 1.0)
    set_marker("CellTrace Violet", ctv)
    apply_expression(panel.expression, lineage, ct, st, flags, rng)

    true = np.zeros((n, len(panel.fluorochromes)))
    for marker, dye in panel.stains.items():
        true[:, panel.fluorochromes.index(dye)] = lineage[marker]
    return true


#: Scatter of plasmablasts relative to other lymphocytes (FSC-A, FSC-H, SSC-A, SSC-H).
_BLAST_SCATTER = np.array([1.15, 1.15, 1.1, 1.1])
_SCATTER_SHAPE = {  # cell type -> (FSC-A median, sigma, SSC-A median, sigma)
    "lymph": (60000, 0.12, 18000, 0.25),
    "dead": (38000, 0.2, 26000, 0.3),
    "monocyte": (95000, 0.12, 60000, 0.2),
    "debris": (12000, 0.6, 7000, 0.7),
    "msc": (190000, 0.15, 110000, 0.25),
    "cdc": (80000, 0.12, 35000, 0.25),
    "pdc": (70000, 0.12, 25000, 0.25),
    "macrophage": (130000, 0.15, 80000, 0.25),
}


def _scatter(cell_type: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """FSC-A, FSC-H, SSC-A, SSC-H per event; doublets are two lymphocytes side by side."""
    n = len(cell_type)
    ct = cell_type.astype(str)
    kind = np.where(np.isin(ct, _LYMPH), "lymph", ct)
    fsc_a = np.zeros(n)
    ssc_a = np.zeros(n)
    for name, (f, fs, s, ss) in _SCATTER_SHAPE.items():
        idx = np.flatnonzero(kind == name)
        fsc_a[idx] = _lognormal(rng, f, fs, len(idx))
        ssc_a[idx] = _lognormal(rng, s, ss, len(idx))
    doublet = np.flatnonzero(ct == "doublet")
    f, fs, s, ss = _SCATTER_SHAPE["lymph"]
    fsc_a[doublet] = _lognormal(rng, f, fs, len(doublet)) + _lognormal(rng, f, fs, len(doublet))
    ssc_a[doublet] = _lognormal(rng, s, ss, len(doublet)) + _lognormal(rng, s, ss, len(doublet))
    is_doublet = ct == "doublet"
    fsc_h = fsc_a * np.where(is_doublet, 0.52, 0.87) * (1 + 0.03 * rng.standard_normal(n))
    ssc_h = ssc_a * np.where(is_doublet, 0.6, 0.9) * (1 + 0.03 * rng.standard_normal(n))
    return np.clip(np.column_stack([fsc_a, fsc_h, ssc_a, ssc_h]), 0, RANGE - 1)
