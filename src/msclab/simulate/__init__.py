"""Synthetic MSC co-culture studies with known truth (examples, tests, power analysis)."""

from .effects import DEFAULT_EFFECTS, PlantedEffect, ratio_weight, resolve_effects
from .study import StudyDesign, simulate_study

__all__ = ["DEFAULT_EFFECTS", "PlantedEffect", "StudyDesign", "ratio_weight", "resolve_effects", "simulate_study"]
