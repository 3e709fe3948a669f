"""Cell values shared by every assay reader (well names: :mod:`msclab.io.wells`)."""

from __future__ import annotations

import math
import re

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+([eE][+-]?\d+)?$")


def parse_value(cell: object, *, decimal_comma: bool = False) -> tuple[float, str | None]:
    """Read one cell as a number.

    Parameters
    ----------
    cell
        Text or a number from a spreadsheet.
    decimal_comma
        Accept ``0,123`` as 0.123 (files delimited by semicolons).

    Returns
    -------
    value, flag
        ``(0.123, None)`` for a number; ``(nan, None)`` for an empty cell;
        ``(nan, token)`` for anything else (``OVRFLW``, ``MISSED``, ``***``,
        ``NaN``), so the reason for a missing number is kept.
    """
    if cell is None:
        return math.nan, None
    if isinstance(cell, bool):
        return math.nan, str(cell)
    if isinstance(cell, (int, float)):
        value = float(cell)
        return (value, None) if math.isfinite(value) else (math.nan, str(cell))
    text = str(cell).strip()
    if not text:
        return math.nan, None
    if _NUMBER.match(text):
        return float(text), None
    if decimal_comma and _DECIMAL_COMMA.match(text):
        return float(text.replace(",", ".")), None
    return math.nan, text


def wavelength_of(name: object) -> float:
    """The wavelength in nm a read name states (``"450"``, ``"450nm"``, ``"450 nm"``), else NaN."""
    match = re.match(r"^\s*(\d{3,4}(?:\.\d+)?)\s*(?:nm)?\s*$", str(name), flags=re.IGNORECASE)
    return float(match.group(1)) if match else math.nan


def format_wavelength(value: float) -> str:
    """``450.0 -> "450"``, ``452.5 -> "452.5"``."""
    return f"{value:g}"
