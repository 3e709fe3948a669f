"""Plate geometry: which wells exist on a plate.

Well names are spelled by :func:`msclab.io.wells.normalise_well` (re-exported
here with :func:`~msclab.io.wells.parse_well`), the one function every reader
and the samplesheet use.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from ..io.wells import normalise_well, parse_well

_WELL_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])([A-Pa-p])0?([1-9]|1[0-9]|2[0-4])(?![0-9])")


@dataclass(frozen=True)
class PlateFormat:
    """A plate's rows and columns (96-well: 8 x 12; 384-well: 16 x 24)."""

    rows: int
    columns: int

    @property
    def n_wells(self) -> int:
        """Number of wells."""
        return self.rows * self.columns

    @property
    def row_letters(self) -> str:
        """The row letters, ``"ABCDEFGH"`` for a 96-well plate."""
        return string.ascii_uppercase[: self.rows]

    def wells(self) -> list[str]:
        """All well names in row-major order (``A1, A2, ..., H12``)."""
        return [f"{r}{c}" for r in self.row_letters for c in range(1, self.columns + 1)]

    def contains(self, well: str) -> bool:
        """Whether ``well`` (any spelling, e.g. ``a01``) is on this plate."""
        parsed = parse_well(well)
        if parsed is None:
            return False
        row, col = parsed
        return row < self.rows and 1 <= col <= self.columns


PLATE_FORMATS = {96: PlateFormat(8, 12), 384: PlateFormat(16, 24)}


__all__ = ["PLATE_FORMATS", "PlateFormat", "find_well", "normalise_well", "parse_well"]


def find_well(text: str) -> str | None:
    """The first well name inside a longer text (a file name such as ``plate2_B07.fcs``), normalised."""
    match = _WELL_IN_TEXT.search(str(text))
    return f"{match.group(1).upper()}{match.group(2)}" if match else None
