"""The review's MSC effects as versioned data, with citations.

:func:`load_catalogue` returns the packaged catalogue (``effects.yaml``),
optionally extended or overridden by a local file. See ``docs/catalogue.md``.
"""

from .load import load_catalogue
from .model import CONTEXTS, Catalogue, ContextExpectation, Effect, Reference, Scoring

__all__ = ["CONTEXTS", "Catalogue", "ContextExpectation", "Effect", "Reference", "Scoring", "load_catalogue"]
