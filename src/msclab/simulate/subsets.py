"""Fractions of the cell subsets the panels beyond ``th_ics`` and ``treg`` resolve.

Per donor, a baseline is drawn for each simulated panel (stimulated culture,
mean and SD of the fraction on the logit scale, as the T-cell baselines);
per culture, unstimulated values replace the stimulation-driven ones, MSC
effects move the fractions (:data:`EFFECT_OF`), and culture-to-culture noise
is added. Baselines follow ``msc_catalogue.md`` §4 where it gives one (cTfh
3 ± 1.5% of CD4; plasmablasts 4 ± 3% of CD19; NK CD107a+ 25 ± 8% with K562);
the rest are typical healthy-donor values and are for generating data only.
Fractions are of the subset's parent cell type.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .effects import PlantedEffect, apply_effect

CULTURE_SD = 0.05  # culture-to-culture noise on the log scale

#: Panel -> fraction -> (mean, SD) in stimulated cultures.
BASELINE: dict[str, dict[str, tuple[float, float]]] = {
    "tfh": {"memory_cd4": (0.55, 0.08), "tfh": (0.03, 0.015), "cxcr5_memory": (0.08, 0.03),
            "pd1_memory": (0.15, 0.05)},
    "b_cells": {"b_unswitched": (0.10, 0.03), "b_switched": (0.15, 0.04), "b_dn": (0.05, 0.02),
                "b_transitional": (0.04, 0.01), "plasmablast": (0.045, 0.02)},
    "nk": {"nk_bright": (0.10, 0.03), "nk_dim_cd16neg": (0.12, 0.03), "nk_cd107a": (0.25, 0.08),
           "nk_ifng": (0.10, 0.04)},
    "cd8_ctl": {"cd8_cd107a": (0.20, 0.06), "cd8_gzmb": (0.55, 0.10)},
    "dc": {"cdc2": (0.60, 0.08), "dc_mature": (0.60, 0.10)},
    "macrophage": {"m1": (0.30, 0.08), "m2": (0.20, 0.06), "m2_cd163": (0.10, 0.04)},
}
#: Unstimulated cultures (no anti-CD3/CD28, no K562 targets, no restimulation): background
#: activation kept under 0.5% where the panel's threshold is read from this control.
UNSTIMULATED: dict[str, dict[str, float]] = {
    "tfh": {"tfh": 0.02, "pd1_memory": 0.03},
    "nk": {"nk_cd107a": 0.002, "nk_ifng": 0.002},
    "b_cells": {"plasmablast": 0.012},
    "cd8_ctl": {"cd8_cd107a": 0.002, "cd8_gzmb": 0.30},
    "dc": {"dc_mature": 0.002},
    "macrophage": {"m1": 0.05},
}
#: Which planted effect moves which fraction.
EFFECT_OF = {
    "tfh": "tfh_frequency", "plasmablast": "plasmablast_frequency", "b_transitional": "b_transitional",
    "b_switched": "b_switched_memory_dn", "b_dn": "b_switched_memory_dn", "nk_cd107a": "nk_cytotoxicity",
    "nk_ifng": "nk_ifng", "cd8_cd107a": "cd8_ctl_cytotoxicity", "dc_mature": "dc_maturation_markers",
    "cdc2": "cd1c_tolerogenic_dc", "m1": "m1_macrophage", "m2": "m2_macrophage", "m2_cd163": "m2_macrophage",
}
#: The MSC lot's ISCT phenotype (fraction positive): a bone-marrow lot that passes ISCT release
#: (>= 95% CD73+CD90+CD105+, <= 2% CD45/CD34/CD14/CD19/HLA-DR; Dominici 2006).
MSC_LOT = {"msc_cd73": 0.995, "msc_cd90": 0.995, "msc_cd105": 0.99, "msc_cd45": 0.005, "msc_cd34": 0.01,
           "msc_cd14": 0.003, "msc_cd19": 0.002, "msc_hladr": 0.01}
#: Fraction of CD107a+ CD8 T cells that are also granzyme B+.
_GZMB_OF_DEGRANULATING = 0.8
# Mutually exclusive subsets of one cell type, kept to at most this total.
_EXCLUSIVE = (("b_unswitched", "b_switched", "b_dn", "b_transitional", "plasmablast"), ("m1", "m2", "m2_cd163"))
_MAX_TOTAL = 0.95


def draw_fraction(mean: float, sd: float, rng: np.random.Generator) -> float:
    """A donor's fraction: normal on the logit scale with the given mean and (approximate) SD."""
    sd_logit = sd / (mean * (1 - mean))
    x = math.log(mean / (1 - mean)) + sd_logit * rng.standard_normal()
    return 1 / (1 + math.exp(-x))


def donor_subsets(panels: Iterable[str], rng: np.random.Generator) -> dict[str, float]:
    """One donor's baseline fractions for the panels' subsets."""
    return {name: draw_fraction(mean, sd, rng)
            for panel in panels for name, (mean, sd) in BASELINE.get(panel, {}).items()}


def culture_subsets(base: dict[str, float], panels: Iterable[str], stimulated: bool, weight: float,
                    donor_effects: dict[str, float], effects: dict[str, PlantedEffect],
                    rng: np.random.Generator) -> dict[str, float]:
    """One culture's subset fractions, with the fractions the panels' phenotype rules read.

    Parameters
    ----------
    base
        The donor's baseline (:func:`donor_subsets`).
    panels
        Simulated panels.
    stimulated
        False for the unstimulated culture.
    weight
        Share of the 1:10 MSC effect this culture carries (0 without MSCs).
    donor_effects, effects
        The donor's effect sizes and the planted effects.
    rng
        Random generator.
    """
    values = dict(base)
    if not stimulated:
        for panel in panels:
            values.update({k: v for k, v in UNSTIMULATED.get(panel, {}).items() if k in values})
    for name in list(values):
        effect_id = EFFECT_OF.get(name)
        if weight and effect_id in effects:
            values[name] = apply_effect(values[name], effects[effect_id], donor_effects[effect_id], weight)
        values[name] = min(0.95, values[name] * math.exp(CULTURE_SD * rng.standard_normal()))
    for group in _EXCLUSIVE:
        total = sum(values.get(k, 0.0) for k in group)
        if total > _MAX_TOTAL:
            values.update({k: values[k] * _MAX_TOTAL / total for k in group})
    return values | _derived(values)


def _derived(values: dict[str, float]) -> dict[str, float]:
    """Fractions the phenotype rules draw from, computed from the planted ones."""
    out = {}
    if "memory_cd4" in values:
        named = values["tfh"] + values["cxcr5_memory"] + values["pd1_memory"]
        memory = max(values["memory_cd4"], named + 0.05)
        out |= {"memory_cd4": memory, "memory_other": memory - named}
    if "cd8_cd107a" in values:
        ctl = values["cd8_cd107a"] * _GZMB_OF_DEGRANULATING
        gzmb = max(values["cd8_gzmb"], ctl)
        out |= {"cd8_gzmb": gzmb, "cd8_ctl": ctl, "cd8_cd107a_only": values["cd8_cd107a"] - ctl,
                "cd8_gzmb_only": gzmb - ctl}
    return out
