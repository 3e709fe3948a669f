"""Generic plate grids: 8 x 12 or 16 x 24 blocks in CSV or XLSX.

The exact format (the one msclab's simulator writes) is specified in
``docs/assay_readers.md``. In short: optional ``key,value`` header lines
(``Plate``, ``Read``, ``Analyte``, ``Reference``), then a column-header row
``,1,...,12`` and rows ``A``..``H``; blocks separated by blank lines.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from msclab.errors import AssayFileError
from msclab.io.assay_export import AssayExport
from msclab.io.plate_reader._table import tidy_table
from msclab.io.plate_reader._text import read_text, sniff_delimiter, split_rows, trim
from msclab.io.plate_reader._wells import parse_value, wavelength_of
from msclab.io.wells import ROW_LETTERS, ROWS_FOR_COLUMNS, well_name
from msclab.io.plate_reader.dual_wavelength import correct_plates

#: Analyte name used when neither the file nor the caller names one.
DEFAULT_ANALYTE = "unnamed"
#: Most cells read from one workbook: far above any plate export, far below a memory problem.
MAX_XLSX_CELLS = 2_000_000

Rows = Sequence[Sequence[object]]
Locate = Callable[[int], str]


@dataclass
class GridBlock:
    """One plate-shaped block of cells.

    Attributes
    ----------
    name
        The top-left cell of the block (often empty).
    cells
        Well -> the raw cell (text or number), every well of the plate.
    start, end
        Index of the column-header row, and of the first row after the block.
    """

    name: str
    cells: dict[str, object]
    start: int
    end: int


def _text(cell: object) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def grid_columns(row: Sequence[object]) -> int | None:
    """Number of plate columns when ``row`` is a grid column header (``x,1,2,...,12``), else None."""
    cells = trim([_text(c) for c in row])
    numbers = cells[1:]
    for n in ROWS_FOR_COLUMNS:
        if numbers == [str(i) for i in range(1, n + 1)]:
            return n
    return None


def read_grid_block(rows: Rows, start: int, path: Path, locate: Locate) -> GridBlock:
    """Read the block whose column-header row is ``rows[start]``.

    Raises
    ------
    AssayFileError
        When a row letter is missing or out of order, or a row holds more
        values than the plate has columns (a sign of the wrong delimiter or of
        decimal commas in a comma-separated file).
    """
    n_columns = grid_columns(rows[start])
    if n_columns is None:
        raise AssayFileError("not a grid column header", file=path, where=locate(start))
    n_rows = ROWS_FOR_COLUMNS[n_columns]
    cells: dict[str, object] = {}
    for r in range(n_rows):
        index = start + 1 + r
        row = list(rows[index]) if index < len(rows) else []
        letter = _text(row[0]).upper() if row else ""
        if letter != ROW_LETTERS[r]:
            found = f"found {letter!r}" if letter else "found nothing"
            raise AssayFileError(
                f"expected row {ROW_LETTERS[r]} of a {n_rows * n_columns}-well grid, {found}",
                file=path,
                where=locate(index),
                hint=f"A grid with columns 1-{n_columns} needs rows A-{ROW_LETTERS[n_rows - 1]}, "
                "one letter per row, with no blank line inside the grid.",
            )
        values = list(row[1:])
        if len(trim([_text(v) for v in values])) > n_columns:
            raise AssayFileError(
                f"row {letter} has {len(trim([_text(v) for v in values]))} values for {n_columns} columns",
                file=path,
                where=locate(index),
                hint="Check the delimiter: a comma-separated file must use a decimal point "
                "(use semicolons between columns if numbers have decimal commas).",
            )
        values += [None] * (n_columns - len(values))
        for c in range(n_columns):
            cells[well_name(r, c + 1)] = values[c]
    return GridBlock(name=_text(rows[start][0]) if rows[start] else "", cells=cells, start=start,
                     end=start + 1 + n_rows)


def xlsx_sheets(path: Path) -> list[tuple[str, list[list[object]]]]:
    """Every sheet of a workbook as (name, rows of cell values).

    Raises
    ------
    AssayFileError
        When the file is not a readable XLSX workbook.
    """
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise AssayFileError(
            f"cannot open as an Excel workbook ({exc.__class__.__name__}: {exc})",
            file=path,
            hint="Save the file as .xlsx from Excel (old .xls files must be re-saved).",
        ) from None
    sheets: list[tuple[str, list[list[object]]]] = []
    cells = 0
    try:
        for ws in workbook:
            rows = []
            for row in ws.iter_rows(values_only=True):
                cells += len(row)
                if cells > MAX_XLSX_CELLS:
                    raise AssayFileError(
                        f"the workbook holds more than {MAX_XLSX_CELLS:,} cells, far more than a plate export",
                        file=path, where=f"sheet {ws.title!r}",
                        hint="Export only the plate data, or check that this is the right file.")
                rows.append(list(row))
            sheets.append((ws.title, rows))
        return sheets
    except AssayFileError:
        raise
    except Exception as exc:  # read-only sheets are parsed while iterating: damage shows up here
        raise AssayFileError(
            f"the workbook is damaged ({exc.__class__.__name__}: {exc})",
            file=path,
            hint="Open the file in Excel and save it again as .xlsx, or export it again.",
        ) from None
    finally:
        workbook.close()


def read_grid(path: str | Path, *, analyte: str | None = None, reference: float | str | None = "auto",
              ) -> AssayExport:
    """Read a generic plate-grid CSV or XLSX file.

    Parameters
    ----------
    path
        The file (``.csv``/``.txt`` or ``.xlsx``).
    analyte
        Analyte measured, when the file has no ``Analyte`` line (default ``"unnamed"``).
    reference
        Reference wavelength to subtract: ``"auto"`` (a ``Reference`` line, or
        the longer of exactly two wavelength reads on a plate), a wavelength in
        nm, or None to keep raw reads.

    Returns
    -------
    AssayExport
        Format ``"grid"``; one row per plate x well x read.

    Raises
    ------
    AssayFileError
        Empty file, no grid, a malformed grid, a duplicated read, or a
        reference wavelength that is not in the file.
    """
    path = Path(path)
    leniencies: list[str] = []
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        sheets = xlsx_sheets(path)
        many = len(sheets) > 1
        sources = [
            (rows, (lambda i, s=name: f"sheet {s}, row {i + 1}"), name if many else path.stem, False)
            for name, rows in sheets
        ]
    else:
        text = read_text(path, leniencies)
        delimiter = sniff_delimiter(text, path)
        if delimiter == ";":
            leniencies.append("semicolon-delimited: decimal commas accepted")
        sources = [(split_rows(text, delimiter), (lambda i: f"line {i + 1}"), path.stem, delimiter == ";")]
    records: list[dict[str, object]] = []
    plate_meta: dict[str, dict[str, str]] = {}
    references: dict[str, float] = {}
    for rows, locate, default_plate, decimal_comma in sources:
        _parse_rows(rows, locate, path, default_plate, analyte or DEFAULT_ANALYTE, decimal_comma,
                    records, plate_meta, references)
    if not records:
        raise AssayFileError(
            "no plate grid found",
            file=path,
            hint="A grid is a header row ',1,2,...,12' followed by rows A-H "
            "(see docs/assay_readers.md for the exact format).",
        )
    table = tidy_table(records)
    table, notes = correct_plates(table, reference, path, references)
    leniencies.extend(notes)
    metadata: dict[str, object] = {"plates": plate_meta}
    return AssayExport(table=table, path=path, format="grid", metadata=metadata, leniencies=leniencies)


def _parse_rows(rows: Rows, locate: Locate, path: Path, plate: str, analyte: str, decimal_comma: bool,
                records: list[dict[str, object]], plate_meta: dict[str, dict[str, str]],
                references: dict[str, float]) -> None:
    read: str | None = None
    seen: set[tuple[str, str | None]] = {(str(r["plate"]), r.get("read")) for r in records}  # type: ignore[misc]
    index = 0
    while index < len(rows):
        cells = trim([_text(c) for c in rows[index]])
        if not cells:
            index += 1
            continue
        if grid_columns(rows[index]) is not None:
            block = read_grid_block(rows, index, path, locate)
            name = read if read is not None else (block.name if block.name not in ("", "<>") else None)
            if (plate, name) in seen:
                what = f"read {name}" if name else "a grid without a Read line"
                raise AssayFileError(
                    f"plate {plate} has {what} twice",
                    file=path,
                    where=locate(index),
                    hint="Give each grid of a plate its own 'Read,<name>' line.",
                )
            seen.add((plate, name))
            wavelength = wavelength_of(name) if name is not None else math.nan
            for well, cell in block.cells.items():
                value, flag = parse_value(cell, decimal_comma=decimal_comma)
                records.append({"plate": plate, "well": well, "analyte": analyte, "signal": value,
                                "read": name, "wavelength": wavelength, "vendor_flag": flag})
            index = block.end
            continue
        key = cells[0].strip().rstrip(":").lower()
        value = cells[1] if len(cells) > 1 else ""
        if key == "plate":
            plate, read = value, None
        elif key == "read":
            read = value
        elif key == "analyte":
            analyte = value
        elif key == "reference":
            wavelength = wavelength_of(value)
            if math.isnan(wavelength):
                raise AssayFileError(f"reference {value!r} is not a wavelength in nm", file=path,
                                     where=locate(index), hint="Write e.g. 'Reference,570'.")
            references[plate] = wavelength
        else:
            plate_meta.setdefault(plate, {})[cells[0].rstrip(":")] = value
        index += 1
