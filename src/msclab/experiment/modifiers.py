"""Experiment-level statements about the MSCs (``modifiers:`` in ``experiment.yaml``).

They override what the samplesheet says when :mod:`msclab.compare.modifiers`
decides which of the catalogue's modifiers weaken an expectation.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Modifiers(BaseModel):
    """Experiment-level statements that override what the samplesheet says.

    Each field left ``None`` is read from the treated samples of each contrast.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    msc_ratio: str | None = None
    culture: str | None = None
    licensed: bool | None = None
    sle_derived: bool | None = None
