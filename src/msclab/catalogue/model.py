"""The shape of the effects catalogue: pydantic models, validated on load.

A :class:`Catalogue` holds :class:`Effect` entries (what MSCs are reported to
do to one immune readout), the :class:`Reference` list they cite and the
:class:`Scoring` heuristics of the comparison layer.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Direction = Literal["up", "down", "no_change", "conflicting", "context_dependent"]
Strength = Literal["strong", "moderate", "weak", "conflicting", "insufficient"]
ContextName = Literal[
    "in_vitro_human", "in_vitro_mouse", "sle_mouse_model", "sle_patient_trial", "other_disease_model"
]

#: The experimental contexts an expectation can be stated for.
CONTEXTS: tuple[str, ...] = ContextName.__args__  # type: ignore[attr-defined]

#: Categories that describe the MSCs themselves rather than an immune effect.
NON_EFFECT_CATEGORIES = frozenset({"msc_modifier", "msc_qc"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reference(_Model):
    """One cited work.

    ``verified`` is False when the citation comes from background knowledge and
    was not checked against the source; :meth:`citation` then says so.
    """

    authors: str
    year: int
    title: str
    journal: str
    volume_pages: str | None = None
    doi: str | None = None
    pmid: str | None = None
    pmcid: str | None = None
    trial: str | None = None
    wprim: str | None = None
    verified: bool
    verification_note: str | None = None

    def citation(self) -> str:
        """Return a one-line citation, ending in ``[unverified]`` when not checked."""
        parts = [f"{self.authors} ({self.year}). {self.title}. {self.journal}"]
        if self.volume_pages:
            parts[0] += f" {self.volume_pages}"
        parts[0] += "."
        for label, value in (("doi", self.doi), ("PMID", self.pmid), ("PMCID", self.pmcid), ("trial", self.trial)):
            if value:
                parts.append(f"{label}:{value}" if label == "doi" else f"{label} {value}")
        text = " ".join(parts)
        return text if self.verified else f"{text} [unverified]"


class ContextExpectation(_Model):
    """The expected direction in one experimental context, with its references."""

    direction: Direction
    evidence: Strength
    note: str | None = None
    refs: list[str] = Field(min_length=1)


class Magnitude(_Model):
    """Reported effect sizes, as a sentence with references."""

    summary: str
    refs: list[str] = Field(default_factory=list)


class Effect(_Model):
    """One catalogue entry: an immune readout and what MSCs are reported to do to it."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str
    target: str
    category: str
    readout_type: str
    markers: str
    metric: str
    expected: Direction
    evidence: Strength
    conflicting: bool
    contexts: dict[ContextName, ContextExpectation] = Field(min_length=1)
    conflict_notes: str | None = None
    mechanisms: list[str] = Field(default_factory=list)
    modifiers: list[str] = Field(default_factory=list)
    magnitude: Magnitude | None = None
    refs: list[str] = Field(min_length=1)

    @property
    def is_immune_effect(self) -> bool:
        """True unless the entry describes the MSCs themselves (modifier or QC)."""
        return self.category not in NON_EFFECT_CATEGORIES

    def cited_keys(self) -> list[str]:
        """Every reference key the entry cites, in order of first mention."""
        keys = list(self.refs)
        for ctx in self.contexts.values():
            keys += ctx.refs
        if self.magnitude is not None:
            keys += self.magnitude.refs
        return list(dict.fromkeys(keys))


class Scoring(_Model):
    """Thresholds and weights of the comparison layer (msclab's own heuristics)."""

    note: str
    log2fc_consistent: float = Field(gt=0)
    log2fc_strong: float = Field(gt=0)
    suppression_consistent: float = Field(gt=0)
    suppression_strong: float = Field(gt=0)
    weights: dict[Strength, float]
    modifier_factor: float = Field(gt=0, le=1)
    low_ratio_below: str = Field(pattern=r"^\d+(\.\d+)?:\d+(\.\d+)?$")


class Catalogue(_Model):
    """The effects catalogue: entries, references and scoring heuristics."""

    catalogue_version: str
    schema_version: str
    derived_from: dict[str, str] = Field(default_factory=dict)
    primary_review: str
    related_reviews: list[str] = Field(default_factory=list)
    scoring: Scoring
    effects: dict[str, Effect]
    references: dict[str, Reference]
    sources: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _refs_resolve(self) -> Catalogue:
        missing = {
            f"{entry.id}: {key}"
            for entry in self.effects.values()
            for key in entry.cited_keys()
            if key not in self.references
        }
        for key in (self.primary_review, *self.related_reviews):
            if key not in self.references:
                missing.add(f"catalogue header: {key}")
        if missing:
            raise ValueError(f"reference keys not in the reference list: {sorted(missing)}")
        unknown_mods = {
            f"{entry.id}: {mod}"
            for entry in self.effects.values()
            for mod in entry.modifiers
            if mod not in self.effects or self.effects[mod].category != "msc_modifier"
        }
        if unknown_mods:
            raise ValueError(f"modifiers must name msc_modifier entries: {sorted(unknown_mods)}")
        return self

    def __len__(self) -> int:
        return len(self.effects)

    def entries(self, category: str | None = None) -> list[Effect]:
        """Return the entries in file order, optionally of one category only."""
        return [e for e in self.effects.values() if category is None or e.category == category]

    def __contains__(self, effect_id: object) -> bool:
        return effect_id in self.effects

    def get(self, effect_id: str) -> Effect:
        """Return one entry; raise :class:`~msclab.errors.MsclabError` naming close ids if unknown."""
        from difflib import get_close_matches

        from ..errors import MsclabError

        if effect_id not in self.effects:
            close = get_close_matches(effect_id, list(self.effects), n=3)
            hint = f"Did you mean {', '.join(close)}?" if close else "Run `msclab catalogue list` to see the ids."
            raise MsclabError(f"no catalogue entry {effect_id!r}", hint=hint)
        return self.effects[effect_id]

    def citations(self, keys: list[str]) -> list[str]:
        """Return the full citations of ``keys`` (unverified ones marked)."""
        return [f"[{key}] {self.references[key].citation()}" for key in keys]
