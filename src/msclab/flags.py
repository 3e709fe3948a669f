"""The flags a quantified value can carry, shared by every quantifier and the readouts matrix.

The vocabulary sits below the quantifiers (:mod:`msclab.flow`, :mod:`msclab.assay`)
so that they can flag their values without importing :mod:`msclab.readouts`,
which sits above them.
"""

from __future__ import annotations

from .errors import MsclabError

#: Every flag a value can carry. ``ok`` is code 0.
FLAG_LEVELS = (
    "ok",
    "<LLOQ",
    ">ULOQ",
    "extrapolated",
    "high_cv",
    "masked",
    "saturated",
    "fit_failed",
    "low_events",
    "not_measured",
    "control_fallback",
)


def flag_code(flag: str) -> int:
    """Return the integer code of a flag name."""
    try:
        return FLAG_LEVELS.index(flag)
    except ValueError:
        raise MsclabError(
            f"unknown flag {flag!r}", hint=f"Use one of: {', '.join(FLAG_LEVELS)}."
        ) from None
