"""Compare measured effects with the catalogue: verdicts and a concordance score.

:func:`score` takes the effects table of :func:`msclab.stats.estimate_effects`
and returns a :class:`Comparison` (``table``, ``score``, ``ci``, ``summary``).
See ``docs/catalogue.md``.
"""

from .modifiers import Modifiers
from .score import COMPARISON_COLUMNS, Comparison, score
from .verdicts import VERDICTS

__all__ = ["COMPARISON_COLUMNS", "Comparison", "Modifiers", "VERDICTS", "score"]
