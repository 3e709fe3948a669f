"""Paired effects, confidence intervals, tests and multiple-testing control.

- :class:`Contrast`: treated vs matched control, paired by donor;
- :func:`estimate_effects`: the ``effects.csv`` table;
- :func:`dose_trend`: trend of an effect across MSC:PBMC ratios;
- :func:`bh_qvalues`: Benjamini-Hochberg q-values.

See ``docs/statistics.md``.
"""

from ..experiment.contrasts import Contrast
from .effects import EFFECT_COLUMNS, estimate_effects
from .fdr import bh_qvalues
from .trend import dose_trend, msc_fraction

__all__ = ["EFFECT_COLUMNS", "Contrast", "bh_qvalues", "dose_trend", "estimate_effects", "msc_fraction"]
