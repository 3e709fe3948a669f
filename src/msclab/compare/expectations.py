"""What the catalogue expects of one entry in one experimental context.

The experiment's context (``in_vitro_human`` by default) selects the entry's
context-specific direction, evidence strength and references. An entry that
states nothing for that context falls back to its overall direction and
evidence (msc_catalogue.md section 6.1).

An entry is *literature conflicting* (reported with the observed direction,
never scored) when

- its overall direction is ``conflicting`` (the direction itself is disputed,
  e.g. Th2 and IL-4; msc_catalogue.md section 2.1), whatever a single context says;
- the direction that applies is ``conflicting`` or ``context_dependent``, or
  its evidence is ``conflicting``.

So IL-17A (overall evidence conflicting) is scored in vitro, where the
catalogue states a moderate "down", but not in contexts it says nothing about.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalogue.model import CONTEXTS, Catalogue, Effect
from ..errors import MsclabError

#: Directions that can be scored.
SCORABLE = ("up", "down", "no_change")


@dataclass(frozen=True)
class Expectation:
    """An entry's expectation in one context."""

    direction: str
    evidence: str
    refs: tuple[str, ...]
    context_used: str
    weight: float

    @property
    def literature_conflicting(self) -> bool:
        """True when the literature does not agree on a direction."""
        return self.direction not in SCORABLE or self.evidence == "conflicting"


def check_context(context: str) -> str:
    """Return ``context`` if it is one of :data:`~msclab.catalogue.model.CONTEXTS`, else raise."""
    if context not in CONTEXTS:
        raise MsclabError(f"unknown experimental context {context!r}", hint=f"Use one of: {', '.join(CONTEXTS)}.")
    return context


def expectation(entry: Effect, context: str, catalogue: Catalogue) -> Expectation:
    """Return what ``entry`` expects in ``context`` (with the fallback to its overall direction)."""
    stated = entry.contexts.get(check_context(context))  # type: ignore[call-overload]
    if stated is not None:
        direction, evidence, refs, used = stated.direction, stated.evidence, stated.refs, context
    else:
        direction, evidence, refs, used = entry.expected, entry.evidence, entry.refs, "overall"
    if entry.expected == "conflicting":
        direction = "conflicting"
    weight = catalogue.scoring.weights.get(evidence, 0.0) if entry.is_immune_effect else 0.0
    return Expectation(direction, evidence, tuple(refs), used, float(weight))


def cite(keys: tuple[str, ...] | list[str], catalogue: Catalogue) -> str:
    """Return reference keys as text, each unverified one marked ``(unverified)``."""
    return "; ".join(key if catalogue.references[key].verified else f"{key} (unverified)" for key in keys)
