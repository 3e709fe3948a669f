"""Experimental conditions that weaken an expectation (the catalogue's modifiers).

An entry lists the ``msc_modifier`` entries that apply to it. When the
experiment meets a modifier's condition, the effect required for a verdict is
multiplied by ``scoring.modifier_factor`` (0.5: halved, as the catalogue's
scoring guidance proposes), once, however many modifiers apply; the table names
every modifier that applied.

=====================  ======================================================
modifier               condition (from the treated samples' obs, or overrides)
=====================  ======================================================
mod_dose_ratio         an MSC:PBMC ratio below ``scoring.low_ratio_below``
                       (1:50) [LeBlanc2003; DiNicola2002]
mod_contact_transwell  ``culture`` is transwell, for contact-dependent
                       entries [English2009]
mod_ifng_licensing     MSCs not licensed (``msc_licensing`` empty, ``none``,
                       ``unlicensed``, ...), for B-cell entries [KimSCI2020;
                       Schena2010; Luk2017]
mod_sle_derived_msc    ``msc_source`` names SLE, lupus, patient or autologous
                       MSCs [Wang2014AR; Che2014; Gu2016Aging]
=====================  ======================================================
"""

from __future__ import annotations

import math
import re

from ..catalogue.model import Effect, Scoring
from ..experiment.modifiers import Modifiers
from ..stats.trend import msc_fraction

#: ``msc_licensing`` values that mean "not licensed" (compared lower-case).
UNLICENSED = frozenset({"", "none", "no", "unlicensed", "naive", "unprimed", "false", "0", "-", "nan"})

_SLE_SOURCE = re.compile(r"sle|lupus|patient|autolog", re.IGNORECASE)


def _values(text: object) -> list[str]:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return [""]
    return [v.strip() for v in str(text).split(";")]


def active_modifiers(arm: dict[str, object], overrides: Modifiers, scoring: Scoring) -> set[str]:
    """Return the modifier ids whose condition the MSC arm meets.

    Parameters
    ----------
    arm
        ``msc_ratio``, ``culture``, ``msc_licensing``, ``msc_source`` of the
        treated samples (``;``-joined when several), as in the effects table.
    overrides
        Experiment-level statements taking precedence over ``arm``.
    scoring
        The catalogue's scoring heuristics (ratio limit).
    """
    active = set()
    ratios = _values(overrides.msc_ratio if overrides.msc_ratio is not None else arm.get("msc_ratio"))
    limit = msc_fraction(scoring.low_ratio_below)
    if any(r and msc_fraction(r) < limit for r in ratios):
        active.add("mod_dose_ratio")
    culture = overrides.culture if overrides.culture is not None else arm.get("culture")
    if any(v.lower() == "transwell" for v in _values(culture)):
        active.add("mod_contact_transwell")
    licensed = overrides.licensed
    if licensed is None:
        licensed = all(v.lower() not in UNLICENSED for v in _values(arm.get("msc_licensing")))
    if not licensed:
        active.add("mod_ifng_licensing")
    sle = overrides.sle_derived
    if sle is None:
        sle = any(_SLE_SOURCE.search(v) for v in _values(arm.get("msc_source")))
    if sle:
        active.add("mod_sle_derived_msc")
    return active


def applied_modifiers(entry: Effect, active: set[str]) -> list[str]:
    """Return the entry's modifiers that are active, in the entry's order."""
    return [m for m in entry.modifiers if m in active]
