"""A simulated 3-laser cytometer and the cells it sees.

Events are drawn per sample from a mixture of debris, doublets, monocytes,
carried-over MSCs, dead cells and lymphocyte subsets. Each cell has a true
intensity per fluorochrome; detectors see those intensities through a
spillover matrix, plus autofluorescence and noise, as a real instrument does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

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
}


def spillover_matrix() -> pd.DataFrame:
    """The instrument's spillover matrix, detectors x detectors (rows: the dye's own detector)."""
    names = list(DETECTORS.values())
    matrix = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for (dye, detector), value in _SPILL.items():
        matrix.loc[DETECTORS[dye], detector] = value
    return matrix


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
        The CD4 T-cell states this panel resolves: helper states (ICS) or
        regulatory states (Treg).
    """

    name: str
    stains: dict[str, str]
    states: tuple[str, ...]

    @property
    def markers(self) -> dict[str, str]:
        """Detector -> marker, as an experiment manifest states it."""
        return {DETECTORS[dye]: marker for marker, dye in self.stains.items()}


HELPER_STATES = ("th1", "th17", "th1_17", "th2")
REGULATORY_STATES = ("treg", "foxp3_activated", "activated")
TH_ICS = PanelDesign("th_ics", {
    "CD45": "BV421", "Viability": "BV510", "CD3": "FITC", "CD8": "PerCP-Cy5.5",
    "IL-4": "PE", "IL-17A": "PE-Cy7", "IFN-g": "APC", "CD4": "APC-Cy7",
}, HELPER_STATES)
TREG = PanelDesign("treg", {
    "CellTrace Violet": "BV421", "Viability": "BV510", "CD3": "FITC", "CD8": "PerCP-Cy5.5",
    "CD25": "PE", "CD127": "PE-Cy7", "FoxP3": "APC", "CD45": "AF700", "CD4": "APC-Cy7",
}, REGULATORY_STATES)
PANELS = {p.name: p for p in (TH_ICS, TREG)}

#: Event types (``cell_type`` label) and T-cell states (``state`` label).
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


# Fractions of all events before lymphocytes (debris, doublets, myeloid) and of
# lymphocytes that are dead: typical of a 3-5 day PBMC culture.
_DEBRIS, _DOUBLETS, _MONOCYTES, _DEAD = 0.06, 0.04, 0.05, 0.08
_B_OF_NON_T, _NK_OF_NON_T = 0.4, 0.4


def _lognormal(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    return median * np.exp(sigma * rng.standard_normal(n))


def draw_events(
    comp: SampleComposition, panel: PanelDesign, n_events: int, rng: np.random.Generator,
    omit: str | None = None,
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

    Returns
    -------
    events
        float32 array, events x channels (scatter, fluorescence detectors, Time).
    channels
        The $PnN names of the columns.
    labels
        Per event: ``cell_type``, ``state`` and ``generation`` (CellTrace
        divisions; -1 where not a T cell).
    """
    p_msc = comp.msc_fraction
    p_lymph = 1.0 - _DEBRIS - _DOUBLETS - _MONOCYTES - p_msc
    top = rng.choice(5, size=n_events, p=[_DEBRIS, _DOUBLETS, _MONOCYTES, p_msc, p_lymph])
    cell_type = np.empty(n_events, dtype=object)
    cell_type[top == 0] = "debris"
    cell_type[top == 1] = "doublet"
    cell_type[top == 2] = "monocyte"
    cell_type[top == 3] = "msc"
    lymph = np.flatnonzero(top == 4)
    cell_type[lymph] = _lymphocyte_types(comp, len(lymph), rng)

    state = np.full(n_events, "none", dtype=object)
    generation = np.full(n_events, -1, dtype=np.int8)
    _assign_states(comp, panel, cell_type, state, generation, rng)

    true = _true_intensities(cell_type, state, generation, comp, panel, rng)
    if omit is not None:
        true[:, FLUOROCHROMES.index(panel.stains[omit])] = 0.0
    doublets = np.flatnonzero(cell_type == "doublet")
    singles = np.flatnonzero(np.isin(cell_type, ["cd4", "cd8", "b", "nk", "dn_t"]))
    if len(doublets) and len(singles):
        pairs = rng.choice(singles, size=(len(doublets), 2))
        true[doublets] = true[pairs[:, 0]] + true[pairs[:, 1]]

    spill = spillover_matrix().to_numpy()
    detected = true @ spill
    autofl = _autofluorescence(cell_type, rng)
    noise = rng.normal(0.0, 35.0, size=detected.shape)
    fluorescence = detected + autofl[:, None] * _AUTOFL_SPECTRUM[None, :] + noise

    scatter = _scatter(cell_type, rng)
    time = np.sort(rng.uniform(0, 120.0 / TIMESTEP, n_events))
    events = np.column_stack([scatter, fluorescence, time])
    events[:, :-1] = np.clip(events[:, :-1], -RANGE, RANGE - 1)
    channels = [*SCATTER, *DETECTORS.values(), "Time"]
    labels = pd.DataFrame({
        "cell_type": pd.Categorical(cell_type, categories=CELL_TYPES),
        "state": pd.Categorical(state, categories=STATES),
        "generation": generation,
    })
    return events.astype(np.float32), channels, labels


def _lymphocyte_types(comp: SampleComposition, n: int, rng: np.random.Generator) -> np.ndarray:
    p_t = (1 - _DEAD) * comp.t_of_lymph
    p_non_t = (1 - _DEAD) * (1 - comp.t_of_lymph)
    dn = 1 - comp.cd4_of_t - comp.cd8_of_t
    names = np.array(["dead", "cd4", "cd8", "dn_t", "b", "nk", "other"], dtype=object)
    probs = [_DEAD, p_t * comp.cd4_of_t, p_t * comp.cd8_of_t, p_t * dn,
             p_non_t * _B_OF_NON_T, p_non_t * _NK_OF_NON_T, p_non_t * (1 - _B_OF_NON_T - _NK_OF_NON_T)]
    return names[rng.choice(len(names), size=n, p=probs)]


def _assign_states(comp: SampleComposition, panel: PanelDesign, cell_type: np.ndarray,
                   state: np.ndarray, generation: np.ndarray, rng: np.random.Generator) -> None:
    cd4 = np.flatnonzero(cell_type == "cd4")
    cd8 = np.flatnonzero(cell_type == "cd8")
    probs = [getattr(comp, name) for name in panel.states]
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
_AUTOFL_SPECTRUM = np.array([1.0, 1.2, 0.8, 0.4, 0.3, 0.1, 0.1, 0.08, 0.05])
_AUTOFL_LEVEL = {"debris": 40, "doublet": 120, "monocyte": 220, "msc": 1500, "dead": 150}


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


def _true_intensities(cell_type: np.ndarray, state: np.ndarray, generation: np.ndarray,
                      comp: SampleComposition, panel: PanelDesign, rng: np.random.Generator) -> np.ndarray:
    """True fluorochrome intensity per event (before spillover, autofluorescence and noise)."""
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

    true = np.zeros((n, len(FLUOROCHROMES)))
    for marker, dye in panel.stains.items():
        true[:, FLUOROCHROMES.index(dye)] = lineage[marker]
    return true


_SCATTER_SHAPE = {  # cell type -> (FSC-A median, sigma, SSC-A median, sigma)
    "lymph": (60000, 0.12, 18000, 0.25),
    "dead": (38000, 0.2, 26000, 0.3),
    "monocyte": (95000, 0.12, 60000, 0.2),
    "debris": (12000, 0.6, 7000, 0.7),
    "msc": (190000, 0.15, 110000, 0.25),
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
