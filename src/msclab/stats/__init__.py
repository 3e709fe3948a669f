"""Paired effects, confidence intervals, tests and multiple-testing control.

- :class:`Contrast`: treated vs matched control, paired by donor;
- :func:`estimate_effects`: the ``effects.csv`` table;
- :func:`dose_trend`: trend of an effect across MSC:PBMC ratios;
- :func:`bh_qvalues`: Benjamini-Hochberg q-values.

See ``docs/statistics.md``.

Names are imported on first use.
"""

from __future__ import annotations

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "Contrast": "..experiment.contrasts",
        "EFFECT_COLUMNS": ".effects",
        "estimate_effects": ".effects",
        "bh_qvalues": ".fdr",
        "dose_trend": ".trend",
        "msc_fraction": ".trend",
    },
    ("effects", "fdr", "mixed", "paired", "trend"),
)
