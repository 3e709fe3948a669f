"""BioTek (Agilent) Gen5 text exports.

A Gen5 export is tab-separated: header lines (``Software Version``,
``Plate Number``, ``Reader Type:`` ...), ``Procedure Details``, an optional
``Layout`` block (``Well ID`` = ``STDn`` / ``SPLn:m`` / ``CTLn`` / ``BLK`` and
``Conc/Dil`` lines) and a ``Results`` block: one line per plate row per read,
labelled at the end (``abs450:450``, ``Blank 630nmAbsRead:630``,
``[Concentration]``). Non-numeric cells (``OVRFLW``, ``MISSED``, ``?????``)
become NaN with the token in ``vendor_flag``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from msclab.errors import AssayFileError
from msclab.io.assay_export import AssayExport
from msclab.io.plate_reader._table import tidy_table
from msclab.io.plate_reader._text import read_text, split_rows, trim
from msclab.io.plate_reader._wells import parse_value
from msclab.io.wells import ROW_LETTERS, well_name
from msclab.io.plate_reader.dual_wavelength import correct_plates
from msclab.io.plate_reader.grid import DEFAULT_ANALYTE

_RAW_READ = re.compile(r"^(?P<name>.*?):(?P<wavelength>\d{3,4})$")
_LAYOUT_ID = re.compile(r"^(?P<kind>STD|SPL|CTL|BLK)(?P<number>\d*)(?::(?P<dilution>\d+))?$", re.IGNORECASE)
_KIND = {"STD": "standard", "SPL": "unknown", "CTL": "control", "BLK": "blank"}
_SECTIONS = ("Procedure Details", "Layout", "Results", "StdCurve Fitting Results")


def read_gen5(path: str | Path, *, analyte: str | None = None, reference: float | str | None = "auto",
              ) -> AssayExport:
    """Read a Gen5 text export.

    Parameters
    ----------
    path
        The ``.txt`` export.
    analyte
        Analyte measured (Gen5 does not name it; default ``"unnamed"``).
    reference
        ``"auto"`` subtracts the longer of exactly two wavelengths, a number
        names the reference wavelength, None keeps the raw reads.

    Returns
    -------
    AssayExport
        Format ``"gen5"``. Raw reads only (Gen5's blank-corrected rows are
        listed in ``metadata["derived_reads"]``); ``[Concentration]`` becomes
        ``vendor_concentration``; a ``Layout`` block fills ``sample_type``,
        ``level``, ``sample_id``, ``expected_concentration`` and ``dilution``.

    Raises
    ------
    AssayFileError
        When the file has no ``Results`` block or a malformed one.
    """
    path = Path(path)
    leniencies: list[str] = []
    rows = split_rows(read_text(path, leniencies), "\t")
    if not any(r and r[0] == "Results" for r in rows):
        raise AssayFileError(
            "no 'Results' section: this Gen5 export holds no plate data",
            file=path,
            hint="In Gen5, export the plate with 'Results' (raw data) included.",
        )
    analyte = analyte or DEFAULT_ANALYTE
    plate = path.stem
    header: dict[str, str] = {}
    metadata: dict[str, object] = {"header": header, "plates": {}, "derived_reads": []}
    target = header
    records: list[dict[str, object]] = []
    layouts: dict[str, dict[str, dict[str, object]]] = {}
    index = 0
    while index < len(rows):
        cells = trim(rows[index])
        head = cells[0] if cells else ""
        if head == "Plate Number" and len(cells) > 1:
            plate = cells[1]
            target = metadata["plates"].setdefault(plate, {})  # type: ignore[union-attr]
            index += 1
            continue
        if head == "Layout":
            index, layouts[plate] = _read_layout(rows, index + 1, path)
            continue
        if head == "Results":
            index = _read_results(rows, index + 1, path, plate, analyte, records, metadata)
            continue
        if head == "StdCurve Fitting Results":
            index = _read_fit(rows, index + 1, metadata)
            continue
        if len(cells) == 2 and head and head not in _SECTIONS:
            target[head.rstrip(":")] = cells[1]
        index += 1
    if not records:
        raise AssayFileError("the 'Results' section holds no raw read", file=path,
                             hint="Export raw data (a read labelled 'name:wavelength').")
    for record in records:
        record.update(layouts.get(str(record["plate"]), {}).get(str(record["well"]), {}))
    table = tidy_table(records)
    table, notes = correct_plates(table, reference, path)
    leniencies.extend(notes)
    if metadata["derived_reads"]:
        leniencies.append("Gen5-derived rows not read as signal: " + ", ".join(metadata["derived_reads"]))  # type: ignore[arg-type]
    return AssayExport(table=table, path=path, format="gen5", metadata=metadata, leniencies=leniencies)


def _column_numbers(row: list[str], path: Path, index: int) -> int:
    numbers = trim(row)[1:]
    for n in (12, 24):
        if numbers == [str(i) for i in range(1, n + 1)]:
            return n
    raise AssayFileError("expected the column numbers 1-12 or 1-24 after the section title",
                         file=path, where=f"line {index + 1}")


def _read_results(rows: list[list[str]], index: int, path: Path, plate: str, analyte: str,
                  records: list[dict[str, object]], metadata: dict[str, object]) -> int:
    while index < len(rows) and not trim(rows[index]):
        index += 1
    if index >= len(rows):
        raise AssayFileError("the 'Results' section is empty", file=path, where=f"line {index}")
    n_columns = _column_numbers(rows[index], path, index)
    index += 1
    letter = ""
    concentrations: dict[str, float] = {}
    while index < len(rows) and trim(rows[index]):
        row = rows[index] + [""] * (n_columns + 2 - len(rows[index]))
        if row[0]:
            letter = row[0].upper()
            if letter not in ROW_LETTERS:
                raise AssayFileError(f"expected a row letter A-P, found {row[0]!r}", file=path,
                                     where=f"line {index + 1}")
        if not letter:
            raise AssayFileError("a Results line comes before any row letter", file=path,
                                 where=f"line {index + 1}")
        label = row[n_columns + 1]
        r = ROW_LETTERS.index(letter)
        match = _RAW_READ.match(label)
        for c in range(n_columns):
            well = well_name(r, c + 1)
            value, flag = parse_value(row[c + 1])
            if label == "[Concentration]":
                concentrations[well] = value
            elif match and not label.startswith("Blank "):
                records.append({"plate": plate, "well": well, "analyte": analyte, "signal": value,
                                "read": label, "wavelength": float(match.group("wavelength")),
                                "vendor_flag": flag})
        if label != "[Concentration]" and not (match and not label.startswith("Blank ")):
            derived = metadata["derived_reads"]
            if label not in derived:  # type: ignore[operator]
                derived.append(label)  # type: ignore[union-attr]
        index += 1
    if concentrations:
        for record in records:
            if record["plate"] == plate and record["well"] in concentrations:
                record["vendor_concentration"] = concentrations[str(record["well"])]
    return index


def _read_layout(rows: list[list[str]], index: int, path: Path) -> tuple[int, dict[str, dict[str, object]]]:
    while index < len(rows) and not trim(rows[index]):
        index += 1
    n_columns = _column_numbers(rows[index], path, index)
    index += 1
    layout: dict[str, dict[str, object]] = {}
    letter = ""
    while index < len(rows) and trim(rows[index]):
        row = rows[index] + [""] * (n_columns + 2 - len(rows[index]))
        letter = row[0].upper() or letter
        label = row[n_columns + 1]
        r = ROW_LETTERS.index(letter) if letter in ROW_LETTERS else -1
        if r < 0:
            raise AssayFileError(f"expected a row letter A-P, found {row[0]!r}", file=path,
                                 where=f"line {index + 1}")
        for c in range(n_columns):
            cell = row[c + 1]
            well = well_name(r, c + 1)
            if label == "Well ID" and cell:
                layout[well] = _layout_entry(cell, path, index, well)
            elif label == "Conc/Dil" and cell and well in layout:
                value, _ = parse_value(cell)
                entry = layout[well]
                if entry["sample_type"] == "standard":
                    entry["expected_concentration"] = value
                elif not math.isnan(value) and value > 0:
                    # Gen5 writes sample dilutions as the fraction of neat (0.5 = 1:2).
                    entry["dilution"] = 1 / value if value <= 1 else value
        index += 1
    return index, layout


def _layout_entry(cell: str, path: Path, index: int, well: str) -> dict[str, object]:
    match = _LAYOUT_ID.match(cell)
    if not match:
        return {"sample_type": "unknown", "sample_id": cell}
    kind = match.group("kind").upper()
    entry: dict[str, object] = {"sample_type": _KIND[kind]}
    if kind == "STD":
        entry["level"] = cell.upper()
    elif kind in ("SPL", "CTL"):
        entry["sample_id"] = f"{kind}{match.group('number')}"
    return entry


def _read_fit(rows: list[list[str]], index: int, metadata: dict[str, object]) -> int:
    while index < len(rows) and not trim(rows[index]):
        index += 1
    if index >= len(rows):
        return index
    header = trim(rows[index])
    fits = []
    index += 1
    while index < len(rows) and trim(rows[index]):
        fits.append(dict(zip(header, trim(rows[index]))))
        index += 1
    metadata["vendor_curves"] = fits
    return index
