"""Tecan Magellan / Spark XLSX exports (96 or 384 wells).

Magellan's list layout has a header row ``Well positions | Label1 | Label2``,
two rows of read time and temperature, one row per well (``A1`` ... ``P24``)
and then free-text metadata lines; ``Measurement n:`` followed by
``Measurement wavelength: 450 nm`` names the wavelength of ``Labeln``.
Magellan's plate layout (``<>`` and columns ``1..12``) is read as a grid.
"""

from __future__ import annotations

import re
from pathlib import Path

from msclab.errors import AssayFileError
from msclab.io.assay_export import AssayExport
from msclab.io.plate_reader._table import tidy_table
from msclab.io.plate_reader._wells import parse_value, wavelength_of
from msclab.io.wells import normalise_well
from msclab.io.plate_reader.dual_wavelength import correct_plates
from msclab.io.plate_reader.grid import DEFAULT_ANALYTE, grid_columns, read_grid, xlsx_sheets

_WAVELENGTH = re.compile(r"Measurement wavelength:\s*(\d+(?:\.\d+)?)\s*nm", re.IGNORECASE)
_MEASUREMENT = re.compile(r"^Measurement (\d+):\s*$")


def read_tecan(path: str | Path, *, analyte: str | None = None, reference: float | str | None = "auto",
               ) -> AssayExport:
    """Read a Tecan Magellan XLSX export.

    Parameters
    ----------
    path
        The ``.xlsx`` workbook.
    analyte
        Analyte measured (default ``"unnamed"``).
    reference
        ``"auto"`` subtracts the longer of exactly two wavelengths, a number
        names the reference wavelength, None keeps the raw reads.

    Returns
    -------
    AssayExport
        Format ``"tecan_magellan"``; plate id = file name without extension.

    Raises
    ------
    AssayFileError
        When no sheet holds a ``Well positions`` list or a plate grid.
    """
    path = Path(path)
    sheets = xlsx_sheets(path)
    for sheet, rows in sheets:
        for index, row in enumerate(rows):
            if row and str(row[0] or "").strip() == "Well positions":
                return _read_list(path, sheet, rows, index, analyte or DEFAULT_ANALYTE, reference)
    if any(grid_columns(row) for _, rows in sheets for row in rows):
        export = read_grid(path, analyte=analyte, reference=reference)
        export.format = "tecan_magellan"
        return export
    raise AssayFileError(
        "no 'Well positions' table and no plate grid in any sheet",
        file=path,
        hint="Export from Magellan as Excel with 'Well positions' (list) or plate layout.",
    )


def _read_list(path: Path, sheet: str, rows: list[list[object]], header_index: int, analyte: str,
               reference: float | str | None) -> AssayExport:
    labels = [str(c).strip() for c in rows[header_index][1:] if c is not None]
    notes = [str(r[0]).strip() for r in rows[header_index + 1:] if r and r[0] is not None
             and normalise_well(str(r[0])) is None]
    wavelengths = _label_wavelengths(labels, notes)
    plate = path.stem
    records: list[dict[str, object]] = []
    for offset, row in enumerate(rows[header_index + 1:], start=header_index + 1):
        first = row[0] if row else None
        if first is None:
            continue
        well = normalise_well(str(first))
        if well is None:
            if records:
                break
            raise AssayFileError(f"expected a well name, found {first!r}", file=path,
                                 where=f"sheet {sheet}, row {offset + 1}")
        for position, label in enumerate(labels, start=1):
            value, flag = parse_value(row[position] if position < len(row) else None)
            records.append({"plate": plate, "well": well, "analyte": analyte, "signal": value,
                            "read": label, "wavelength": wavelengths[label], "vendor_flag": flag})
    if not records:
        raise AssayFileError("the 'Well positions' table lists no well", file=path,
                             where=f"sheet {sheet}, row {header_index + 1}")
    table, leniencies = correct_plates(tidy_table(records), reference, path)
    metadata = {"labels": {label: wavelengths[label] for label in labels}, "notes": notes}
    return AssayExport(table=table, path=path, format="tecan_magellan", metadata=metadata,
                       leniencies=leniencies)


def _label_wavelengths(labels: list[str], notes: list[str]) -> dict[str, float]:
    """Label -> wavelength from the ``Measurement n:`` / ``Measurement wavelength:`` notes."""
    by_number: dict[int, float] = {}
    current = None
    for note in notes:
        match = _MEASUREMENT.match(note)
        if match:
            current = int(match.group(1))
            continue
        match = _WAVELENGTH.search(note)
        if match and current is not None:
            by_number[current] = float(match.group(1))
    result = {}
    for position, label in enumerate(labels, start=1):
        number = re.match(r"^Label\s*(\d+)$", label)
        key = int(number.group(1)) if number else position
        result[label] = by_number.get(key, wavelength_of(label))
    return result
