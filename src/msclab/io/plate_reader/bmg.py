"""BMG Labtech MARS CSV exports.

A MARS export starts with ``key: value`` cells (``User:``, ``Test name:``,
``Date:``, ``ID1:`` ...), then one titled grid per read, e.g.
``Raw Data (450 1)`` followed by ``,1,...,12`` and rows ``A``..``H`` (or
``A``..``P`` x 24). The wavelength is the first number in the title.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from msclab.errors import AssayFileError
from msclab.io.assay_export import AssayExport
from msclab.io.plate_reader._table import tidy_table
from msclab.io.plate_reader._text import read_text, sniff_delimiter, split_rows, trim
from msclab.io.plate_reader._wells import parse_value
from msclab.io.plate_reader.dual_wavelength import correct_plates
from msclab.io.plate_reader.grid import DEFAULT_ANALYTE, grid_columns, read_grid_block

_TITLE_WAVELENGTH = re.compile(r"\((\d{3,4})\b")


def read_bmg(path: str | Path, *, analyte: str | None = None, reference: float | str | None = "auto",
             ) -> AssayExport:
    """Read a BMG MARS CSV export.

    Parameters
    ----------
    path
        The ``.csv`` export.
    analyte
        Analyte measured (default ``"unnamed"``).
    reference
        ``"auto"`` subtracts the longer of exactly two wavelength reads, a
        number names the reference wavelength, None keeps the raw reads.

    Returns
    -------
    AssayExport
        Format ``"bmg_mars"``; ``read`` is the grid title (``"Raw Data (450 1)"``);
        plate id = file name without extension; header fields in ``metadata``.

    Raises
    ------
    AssayFileError
        When the file holds no titled grid.
    """
    path = Path(path)
    leniencies: list[str] = []
    text = read_text(path, leniencies)
    delimiter = sniff_delimiter(text, path)
    rows = split_rows(text, delimiter)
    analyte = analyte or DEFAULT_ANALYTE
    plate = path.stem
    header: dict[str, str] = {}
    records: list[dict[str, object]] = []
    title = ""
    index = 0
    while index < len(rows):
        cells = trim(rows[index])
        if grid_columns(rows[index]):
            block = read_grid_block(rows, index, path, lambda i: f"line {i + 1}")
            match = _TITLE_WAVELENGTH.search(title)
            wavelength = float(match.group(1)) if match else math.nan
            for well, cell in block.cells.items():
                value, flag = parse_value(cell, decimal_comma=delimiter == ";")
                records.append({"plate": plate, "well": well, "analyte": analyte, "signal": value,
                                "read": title or None, "wavelength": wavelength, "vendor_flag": flag})
            index = block.end
            continue
        for cell in cells:
            key, sep, value = cell.partition(":")
            if sep and key.strip():
                header[key.strip()] = value.strip()
        if len(cells) == 1 and ":" not in cells[0]:
            title = cells[0]
        index += 1
    if not records:
        raise AssayFileError("no data grid (e.g. 'Raw Data (450 1)' then ',1,...,12' and rows A-H)",
                             file=path, hint="Export the plate from MARS as a table (CSV).")
    table, notes = correct_plates(tidy_table(records), reference, path)
    leniencies.extend(notes)
    return AssayExport(table=table, path=path, format="bmg_mars", metadata={"header": header},
                       leniencies=leniencies)
