"""Parameters of an analysis, validated before any work starts.

:class:`Settings` is what ``msclab analyze`` and ``msclab batch`` pass to the
pipeline. Every field is checked when the object is built: a value outside its
choices (``curve_model="3pl"``) or range (``n_boot=10``) raises
:class:`~msclab.errors.MsclabError` naming the field and the allowed values, so
a typo can never run a whole analysis and quietly drop results.

The choices are those of :mod:`msclab.assay.curves` (the standard-curve models
and weightings it fits); the lower bound of ``n_boot`` follows the advice that
percentile bootstrap intervals need at least a few hundred resamples (Efron &
Tibshirani 1993, *An Introduction to the Bootstrap*, ch. 13).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import MsclabError

#: Standard-curve models (as in :data:`msclab.assay.curves.MODELS`).
CurveModel = Literal["4pl", "5pl"]
#: Standard-curve weightings (as in :data:`msclab.assay.curves.WEIGHTINGS`).
Weighting = Literal["none", "1/y", "1/y^2"]

CURVE_MODELS: tuple[str, ...] = get_args(CurveModel)
WEIGHTINGS: tuple[str, ...] = get_args(Weighting)
#: Smallest number of bootstrap resamples accepted.
MIN_BOOT = 100


class Settings(BaseModel):
    """Parameters of an analysis (all recorded in provenance).

    Attributes
    ----------
    curve_model
        Standard-curve model: ``"4pl"`` or ``"5pl"``.
    weighting
        Curve weighting: ``"none"``, ``"1/y"`` or ``"1/y^2"``.
    n_boot
        Bootstrap resamples for effect and score intervals (at least 100).
    seed
        Seed of every random step (non-negative).
    plots
        Draw gate and curve plots for the report.
    discovery
        Run discovery (clusters, UMAP, differential abundance) on every flow
        panel, not only on those with a ``discovery:`` section (docs/discovery.md).

    Raises
    ------
    MsclabError
        When a value is not one of its choices or out of range; the message
        names the field and what is allowed.

    Examples
    --------
    >>> Settings(curve_model="4pl").weighting
    '1/y^2'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    curve_model: CurveModel = "5pl"
    weighting: Weighting = "1/y^2"
    n_boot: int = Field(2000, ge=MIN_BOOT)
    seed: int = Field(0, ge=0)
    plots: bool = True
    discovery: bool = False

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise settings_error(exc, data) from None


def settings_error(exc: ValidationError, given: dict[str, Any]) -> MsclabError:
    """One :class:`MsclabError` naming every bad field, its value and what is allowed."""
    allowed = {"curve_model": f"one of {', '.join(CURVE_MODELS)}", "weighting": f"one of {', '.join(WEIGHTINGS)}",
               "n_boot": f"an integer of at least {MIN_BOOT}", "seed": "a non-negative integer",
               "plots": "true or false", "discovery": "true or false"}
    parts = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "?"
        if error["type"] == "extra_forbidden":
            parts.append(f"unknown setting {name!r} (known: {', '.join(allowed)})")
        else:
            parts.append(f"{name}={given.get(name)!r} is not allowed; use {allowed.get(name, error['msg'])}")
    return MsclabError("bad analysis settings: " + "; ".join(parts))


__all__ = ["CURVE_MODELS", "MIN_BOOT", "WEIGHTINGS", "Settings"]
