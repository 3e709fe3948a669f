"""The MSC effects a simulated study plants, with their magnitudes and sources.

Magnitudes are the synthetic-data defaults of the project's effects survey
(``msc_catalogue.md`` §4, "heuristic defaults for synthetic test data"): they
are typical literature ranges, tuned to the sourced anchors (Di Nicola 2002 for
proliferation suppression; Wang 2017 CMI for Treg/Th17), and are for generating
data, not for scientific claims. Effect ids are those of the catalogue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
    """

    effect_id: str
    scale: str
    size: float
    donor_sd: float
    source: str


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


def resolve_effects(overrides: dict[str, str] | None = None, *, null: bool = False) -> dict[str, PlantedEffect]:
    """Return the effects to plant, with directions overridden.

    Parameters
    ----------
    overrides
        Effect id -> ``up``, ``down`` or ``none``: plants the default magnitude
        in that direction (against the literature if need be) or no effect.
    null
        Plant no effect at all.

    Raises
    ------
    ValueError
        For an unknown effect id or direction.
    """
    overrides = overrides or {}
    for effect_id, direction in overrides.items():
        if effect_id not in DEFAULT_EFFECTS:
            raise ValueError(f"unknown effect {effect_id!r}; choose from {', '.join(DEFAULT_EFFECTS)}")
        if direction not in DIRECTIONS:
            raise ValueError(f"direction {direction!r} for {effect_id} must be one of {DIRECTIONS}")
    resolved = {}
    for effect_id, effect in DEFAULT_EFFECTS.items():
        direction = "none" if null else overrides.get(effect_id, direction_of(effect))
        magnitude = abs(effect.size) if effect.size else _DEFAULT_MAGNITUDE[effect.scale]
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


def direction_of(effect: PlantedEffect) -> str:
    """The direction in which the planted effect moves the readout."""
    if effect.size == 0:
        return "none"
    rises = effect.size > 0 if effect.scale == "log2_ratio" else effect.size < 0
    return "up" if rises else "down"
