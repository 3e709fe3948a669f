"""The MSC effects a simulated study plants, with their magnitudes and sources.

Magnitudes are the synthetic-data defaults of the project's effects survey
(``msc_catalogue.md`` §4, "heuristic defaults for synthetic test data"): they
are typical literature ranges, tuned to the sourced anchors (Di Nicola 2002 for
proliferation suppression; Wang 2017 CMI for Treg/Th17), and are for generating
data, not for scientific claims. Effect ids are those of the catalogue.

Effects of the panels beyond ``th_ics`` and ``treg`` (:data:`PANEL_EFFECTS`) are
planted, and recorded in truth, only when their panel is simulated. Where §4
gives no default, the size is a stated heuristic (an existing §4 size) and the
direction is the catalogue's for in vitro human cells.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

DIRECTIONS = ("up", "down", "none")


@dataclass(frozen=True)
class PlantedEffect:
    """One effect at MSC:PBMC 1:10.

    Attributes
    ----------
    effect_id
        Catalogue id (``treg_frequency``, ``ifng`` ...).
    scale
        ``log2_ratio`` (frequency or concentration multiplied by 2**size) or
        ``suppression`` (fraction of division removed: 0.5 = half as many
        divided cells).
    size
        Magnitude at 1:10, signed as the literature expects.
    donor_sd
        Donor-to-donor SD of the effect, on the same scale.
    source
        Where the magnitude comes from.
    magnitude
        Size used when an effect whose default is "none" is planted up or
        down; the scale's generic magnitude when not given.
    """

    effect_id: str
    scale: str
    size: float
    donor_sd: float
    source: str
    magnitude: float | None = None


_SURVEY = "msc_catalogue.md §4 synthetic defaults"

#: Defaults at MSC:PBMC 1:10 (catalogue §4: "MSC 1:10 effect" column).
DEFAULT_EFFECTS: dict[str, PlantedEffect] = {
    e.effect_id: e
    for e in (
        PlantedEffect("th1_frequency", "log2_ratio", math.log2(0.6), 0.2, f"{_SURVEY}: Th1 x0.6"),
        PlantedEffect("th17_frequency", "log2_ratio", math.log2(0.6), 0.2, f"{_SURVEY}: Th17 x0.6 (±0.15)"),
        PlantedEffect("th2_frequency", "log2_ratio", 0.0, 0.2,
                      f"{_SURVEY}: Th2 x1.0 (±0.3), symmetric because the literature conflicts"),
        PlantedEffect("treg_frequency", "log2_ratio", math.log2(1.3), 0.15, f"{_SURVEY}: Treg x1.3 (±0.2)"),
        PlantedEffect("t_prolif_cd4", "suppression", 0.50, 0.10,
                      f"{_SURVEY}: % CD4 divided -50% relative (±15); Di Nicola 2002 CD4 65±5%"),
        PlantedEffect("t_prolif_cd8", "suppression", 0.55, 0.10,
                      f"{_SURVEY}: % CD8 divided -55% (±15); Di Nicola 2002 CD8 75±15%"),
        PlantedEffect("ifng", "log2_ratio", math.log2(0.4), 0.25, f"{_SURVEY}: IFN-γ x0.3-0.5"),
        PlantedEffect("tnfa", "log2_ratio", math.log2(0.5), 0.25, f"{_SURVEY}: TNF-α x0.5"),
        PlantedEffect("il17a", "log2_ratio", math.log2(0.6), 0.25, f"{_SURVEY}: IL-17A x0.6"),
        PlantedEffect("il10", "log2_ratio", math.log2(1.75), 0.25, f"{_SURVEY}: IL-10 x1.5-2"),
    )
}


_HEURISTIC = "no §4 default: heuristic"

#: Effects of the other panels at MSC:PBMC 1:10, by panel.
PANEL_EFFECTS: dict[str, tuple[PlantedEffect, ...]] = {
    "tfh": (
        PlantedEffect("tfh_frequency", "log2_ratio", math.log2(0.7), 0.2, f"{_SURVEY}: cTfh % of CD4 x0.7"),
    ),
    "b_cells": (
        PlantedEffect("plasmablast_frequency", "log2_ratio", 0.0, 0.2,
                      f"{_SURVEY}: plasmablasts x0.7 if the MSCs are licensed, else x1.0; the simulated MSCs "
                      "are not licensed (msc_licensing none), so none is planted", magnitude=-math.log2(0.7)),
        PlantedEffect("b_transitional", "log2_ratio", math.log2(1.3), 0.2,
                      f"{_HEURISTIC} x1.3 (the §4 Treg size); direction: catalogue b_transitional up "
                      "(Kamen 2022; Garcia 2022)"),
        PlantedEffect("b_switched_memory_dn", "log2_ratio", 0.0, 0.2,
                      "catalogue b_switched_memory_dn: patient data only (Kamen 2022, weak), no in vitro "
                      "evidence: none planted"),
    ),
    "nk": (
        PlantedEffect("nk_cytotoxicity", "log2_ratio", math.log2(0.6), 0.2,
                      f"{_SURVEY}: NK % CD107a+ (K562, 4 h) x0.6 with MSCs present during activation"),
        PlantedEffect("nk_ifng", "log2_ratio", math.log2(0.6), 0.2,
                      f"{_HEURISTIC} x0.6 (the §4 NK CD107a size); direction: catalogue nk_ifng down "
                      "(Aggarwal 2005; Spaggiari 2008)"),
    ),
    "cd8_ctl": (
        PlantedEffect("cd8_ctl_cytotoxicity", "log2_ratio", math.log2(0.7), 0.2,
                      f"{_HEURISTIC} x0.7 (the §4 cTfh size); direction: catalogue cd8_ctl_cytotoxicity down "
                      "with MSCs present during priming (Rasmusson 2003)"),
    ),
    "dc": (
        PlantedEffect("dc_maturation_markers", "log2_ratio", math.log2(0.55), 0.3,
                      f"{_SURVEY}: moDC CD86 MFI 55% (±15) of control; planted on the fraction of cDCs that "
                      "mature (CD86hi CD83+ CD80+), which carries the cDC CD86 MFI with it"),
        PlantedEffect("cd1c_tolerogenic_dc", "log2_ratio", math.log2(1.3), 0.15,
                      f"{_HEURISTIC} x1.3 (the §4 Treg size); direction: catalogue cd1c_tolerogenic_dc up "
                      "(Yuan 2019: PBMC + UC-MSC, 24-72 h)"),
    ),
    "macrophage": (
        PlantedEffect("m1_macrophage", "log2_ratio", math.log2(0.6), 0.2,
                      f"{_HEURISTIC} x0.6 (the §4 Th1 size); direction: catalogue m1_macrophage down "
                      "(Kim & Hematti 2009; Melief 2013)"),
        PlantedEffect("m2_macrophage", "log2_ratio", math.log2(1.5), 0.2,
                      f"{_HEURISTIC} x1.5 (the §4 IL-10 size); direction: catalogue m2_macrophage up "
                      "(Deng W 2015; Kim & Hematti 2009)"),
    ),
}


def ratio_weight(ratio: float | None) -> float:
    """How much of the 1:10 effect a given MSC:PBMC ratio carries.

    Full at 1:10 or more MSCs, decreasing linearly in log10(ratio) to half at
    1:50 and to nothing at about 1:250. Suppression is monotonic with dose and
    weak or absent at 1:100 or fewer MSCs (catalogue ``mod_dose_ratio``:
    Le Blanc 2003; Di Nicola 2002; Bloom 2015); the exact shape is the
    project's heuristic.
    """
    if not ratio:
        return 0.0
    weight = 1.0 - 0.5 * math.log10(0.1 / ratio) / math.log10(5.0)
    return float(min(1.0, max(0.0, weight)))


def resolve_effects(overrides: dict[str, str] | None = None, *, null: bool = False,
                    panels: Iterable[str] = ()) -> dict[str, PlantedEffect]:
    """Return the effects to plant, with directions overridden.

    Parameters
    ----------
    overrides
        Effect id -> ``up``, ``down`` or ``none``: plants the default magnitude
        in that direction (against the literature if need be) or no effect.
    null
        Plant no effect at all.
    panels
        Simulated panels: the effects of :data:`PANEL_EFFECTS` planted are
        those of these panels.

    Raises
    ------
    ValueError
        For an unknown effect id or direction, or an effect of a panel not simulated.
    """
    overrides = overrides or {}
    catalogue = DEFAULT_EFFECTS | {e.effect_id: e for p in panels for e in PANEL_EFFECTS.get(p, ())}
    owner = {e.effect_id: p for p, effects in PANEL_EFFECTS.items() for e in effects}
    for effect_id, direction in overrides.items():
        if effect_id not in catalogue and effect_id in owner:
            raise ValueError(f"effect {effect_id!r} is planted only with the {owner[effect_id]} panel; "
                             f"add {owner[effect_id]} to the panels")
        if effect_id not in catalogue:
            raise ValueError(f"unknown effect {effect_id!r}; choose from {', '.join(catalogue)}")
        if direction not in DIRECTIONS:
            raise ValueError(f"direction {direction!r} for {effect_id} must be one of {DIRECTIONS}")
    resolved = {}
    for effect_id, effect in catalogue.items():
        direction = "none" if null else overrides.get(effect_id, direction_of(effect))
        magnitude = abs(effect.size) if effect.size else effect.magnitude or _DEFAULT_MAGNITUDE[effect.scale]
        if direction == "none":
            size = 0.0
        else:
            # "up" means the readout rises; for suppression that is a negative suppression.
            sign = 1.0 if direction == "up" else -1.0
            size = sign * magnitude if effect.scale == "log2_ratio" else -sign * magnitude
        resolved[effect_id] = PlantedEffect(effect_id, effect.scale, size, effect.donor_sd, effect.source)
    return resolved


#: Magnitude used when an effect whose default is "none" is planted up or down.
_DEFAULT_MAGNITUDE = {"log2_ratio": math.log2(1.5), "suppression": 0.5}


def donor_effects(effects: dict[str, PlantedEffect], rng: np.random.Generator) -> dict[str, float]:
    """One donor's effect sizes: the planted size plus donor-to-donor variation (none for a null effect)."""
    return {k: e.size + (e.donor_sd * rng.standard_normal() if e.size else 0.0) for k, e in effects.items()}


def apply_effect(value: float, effect: PlantedEffect, donor_effect: float, weight: float) -> float:
    """A fraction moved by one donor's effect, carried at ``weight`` of its 1:10 size."""
    if effect.scale == "log2_ratio":
        return value * 2.0 ** (weight * donor_effect)
    return value * (1.0 - float(np.clip(weight * donor_effect, -0.9, 0.95)))


def direction_of(effect: PlantedEffect) -> str:
    """The direction in which the planted effect moves the readout."""
    if effect.size == 0:
        return "none"
    rises = effect.size > 0 if effect.scale == "log2_ratio" else effect.size < 0
    return "up" if rises else "down"
