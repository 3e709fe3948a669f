"""Well names: the one spelling of a plate well every reader and the samplesheet use.

``"b03"``, ``"B03"`` and ``" B 3 "`` are the well ``"B3"``. A name is a well
when its row is a letter of a 384-well plate (``A``-``P``) and its column is
1-24; anything else (``"Q3"``, ``"A25"``, ``"blank"``) is not, and
:func:`normalise_well` says so with None. Whether a well is on a given plate
(96 or 384 wells) is :meth:`msclab.experiment.PlateFormat.contains`.
"""

from __future__ import annotations

import re

#: Row letters of the largest supported plate (384 wells).
ROW_LETTERS = "ABCDEFGHIJKLMNOP"

#: Plate shapes by number of columns: columns -> rows.
ROWS_FOR_COLUMNS = {12: 8, 24: 16}

_WELL = re.compile(r"^\s*([A-Pa-p])\s*0*(\d{1,2})\s*$")


def well_name(row: int, column: int) -> str:
    """Well name from a zero-based row index and a one-based column: ``(1, 3) -> "B3"``."""
    return f"{ROW_LETTERS[row]}{column}"


def normalise_well(text: object) -> str | None:
    """Return ``"B3"`` for ``"B3"``, ``"b03"`` or ``" B 3 "``; None when ``text`` is not a well name.

    Examples
    --------
    >>> normalise_well("b03"), normalise_well("Q3"), normalise_well("A25")
    ('B3', None, None)
    """
    match = _WELL.match(str(text))
    if not match:
        return None
    column = int(match.group(2))
    if not 1 <= column <= 24:
        return None
    return f"{match.group(1).upper()}{column}"


def parse_well(text: object) -> tuple[int, int] | None:
    """Parse ``"B03"`` into ``(1, 3)`` (zero-based row, one-based column); None if not a well name."""
    well = normalise_well(text)
    return None if well is None else well_sort_key(well)


def well_sort_key(well: str) -> tuple[int, int]:
    """Sort wells row-major: A1, A2, ..., B1."""
    return ROW_LETTERS.index(well[0]), int(well[1:])
