"""What a contrast is: treated samples against matched controls, paired by donor.

A :class:`Contrast` selects treated and control samples from the ``obs`` of
the readouts AnnData with simple selectors (obs column -> value or list of
values), pairs them within ``pair_by`` (the donor) and matches them on
``match_on`` columns (stimulus, timepoint, ...). The experiment file declares
contrasts in this shape; the effect estimation reads nothing else.
"""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import MsclabError

Scalar = str | int | float
Selector = dict[str, Scalar | list[Scalar]]


class Contrast(BaseModel):
    """A treated-vs-control comparison, paired within donor.

    Parameters
    ----------
    name
        Label used in the effects table (``contrast`` column), e.g. ``"MSC 1:10"``.
    treatment, control
        Selectors: ``{obs column: value or [values]}``; a sample is selected
        when every column matches (values compared as text).
    pair_by
        The obs column of the experimental unit (the donor).
    match_on
        obs columns a control must share with its treated sample.
    prefer_same
        obs columns a control should share when such a control exists (e.g.
        ``plate``); otherwise any control matched on ``match_on`` is used.
    background
        Optional selector of unstimulated wells (same donor, matched on
        ``match_on`` minus ``stimulus``) whose value is subtracted from
        proliferation readouts before % suppression is computed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    treatment: Selector = Field(min_length=1)
    control: Selector = Field(min_length=1)
    pair_by: str = "donor"
    match_on: list[str] = Field(default_factory=lambda: ["stimulus", "timepoint"])
    prefer_same: list[str] = Field(default_factory=lambda: ["plate"])
    background: Selector | None = None

    @field_validator("match_on", "prefer_same")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    def columns(self) -> list[str]:
        """Every obs column the contrast reads."""
        cols = [*self.treatment, *self.control, self.pair_by, *self.match_on, *self.prefer_same]
        if self.background:
            cols += list(self.background)
        return list(dict.fromkeys(cols))


def _as_text(values: Scalar | list[Scalar]) -> list[str]:
    items = values if isinstance(values, list) else [values]
    return [str(v) for v in items]


def is_control_row(obs: pd.DataFrame) -> pd.Series:
    """Rows that are controls (a non-empty ``control_type``: FMO, unstimulated, isotype, bridge ...)."""
    if "control_type" not in obs.columns:
        return pd.Series(False, index=obs.index)
    text = obs["control_type"].astype(object).where(obs["control_type"].notna(), "").astype(str).str.strip()
    return ~text.str.lower().isin(["", "nan", "none"])


def select(obs: pd.DataFrame, selector: Selector, *, contrast: str = "", controls: bool = False) -> pd.Series:
    """Return a boolean mask of the samples matching every column of ``selector``.

    Control rows (a non-empty ``control_type``) never enter a contrast unless the selector names
    ``control_type`` itself or ``controls`` is True (the ``background`` selector, which picks the
    unstimulated controls by design): an FMO tube stained on the control culture is a gating
    control, not a second measurement of that culture (``docs/experiment.md``, "Contrasts").

    Raises
    ------
    MsclabError
        When a selector names a column that ``obs`` does not have.
    """
    mask = pd.Series(True, index=obs.index)
    for column, values in selector.items():
        if column not in obs.columns:
            raise MsclabError(
                f"contrast {contrast!r} selects on obs column {column!r}, which the samplesheet lacks",
                hint=f"Use one of: {', '.join(map(str, obs.columns))}.",
            )
        mask &= obs[column].astype(str).isin(_as_text(values))
    if not controls and "control_type" not in selector:
        mask &= ~is_control_row(obs)
    return mask
