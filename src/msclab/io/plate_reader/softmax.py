"""Molecular Devices SoftMax Pro text exports (``##BLOCKS= n``).

The export is tab-separated, often UTF-16. Blocks end with ``~End``:
``Note:`` blocks (free text, acceptance constants), ``Plate:`` blocks (a
header line with the export format, read type, data type and wavelengths,
then the data in ``PlateFormat`` - one 8 x 12 grid per wavelength side by
side - or ``TimeFormat`` - one line per wavelength with a column per well)
and ``Group:`` blocks (the template: samples, wells, standard
concentrations, SoftMax's own results and ``R`` range flags).

Raw multi-wavelength data are corrected here with the reference wavelength
(:mod:`msclab.io.plate_reader.dual_wavelength`); a ``Reduced``-only export
already holds SoftMax's reduced values and is read as they are.
"""

from __future__ import annotations

import math
from pathlib import Path

from msclab.errors import AssayFileError
from msclab.io.assay_export import AssayExport
from msclab.io.plate_reader._table import tidy_table
from msclab.io.plate_reader._text import read_text, split_rows, trim
from msclab.io.plate_reader._wells import parse_value
from msclab.io.wells import normalise_well, well_name
from msclab.io.plate_reader.dual_wavelength import correct_plates
from msclab.io.plate_reader.grid import DEFAULT_ANALYTE

# Positions in the tab-separated ``Plate:`` header line of an absorbance block.
_NAME, _FORMAT, _READ_TYPE, _MODE, _DATA_TYPE, _N_WAVELENGTHS, _WAVELENGTHS = 1, 3, 4, 5, 6, 14, 15
_N_COLUMNS, _N_ROWS = 17, 20
_GROUP_TYPES = (("standard", "standard"), ("blank", "blank"), ("control", "control"), ("qc", "qc"))


def read_softmax(path: str | Path, *, analyte: str | None = None, reference: float | str | None = "auto",
                 ) -> AssayExport:
    """Read a SoftMax Pro text export.

    Parameters
    ----------
    path
        The ``.txt`` export (UTF-16 or UTF-8).
    analyte
        Analyte measured (default ``"unnamed"``).
    reference
        ``"auto"`` subtracts the longer of exactly two raw wavelengths, a
        number names the reference wavelength, None keeps the raw reads.

    Returns
    -------
    AssayExport
        Format ``"softmax_pro"``. ``read`` is ``"450-650"`` after correction,
        the wavelength for raw reads, or ``"reduced"`` for SoftMax's reduced
        values. Group blocks fill ``sample_type``, ``sample_id``, ``level``,
        ``expected_concentration``, ``vendor_concentration`` and ``vendor_flag``.

    Raises
    ------
    AssayFileError
        When the file lacks ``##BLOCKS``, holds no ``Plate:`` block, or a plate
        block is malformed or kinetic.
    """
    path = Path(path)
    leniencies: list[str] = []
    text = read_text(path, leniencies)
    rows = split_rows(text, "\t")
    if not rows or not rows[0] or not rows[0][0].startswith("##BLOCKS"):
        raise AssayFileError("not a SoftMax Pro text export: the first line is not '##BLOCKS= n'",
                             file=path, where="line 1",
                             hint="Export from SoftMax Pro with File > Export > .txt (all sections).")
    analyte = analyte or DEFAULT_ANALYTE
    records: list[dict[str, object]] = []
    groups: list[tuple[str, list[dict[str, str]]]] = []
    metadata: dict[str, object] = {"plates": {}, "notes": []}
    for start, block in _blocks(rows):
        head = block[0][0] if block and block[0] else ""
        if head == "Plate:":
            records.extend(_read_plate(block, start, path, analyte, metadata))
        elif head.startswith("Group:"):
            groups.append((head.removeprefix("Group:").strip(), _group_rows(block[1:])))
        elif head.startswith("Note:"):
            metadata["notes"].append(["\t".join(trim(r)) for r in block[1:] if trim(r)])  # type: ignore[union-attr]
    if not records:
        raise AssayFileError("no 'Plate:' block with data", file=path,
                             hint="Include the plate section when exporting from SoftMax Pro.")
    plates = list(dict.fromkeys(str(r["plate"]) for r in records))
    annotations = _annotations(groups, plates[0])
    for record in records:
        record.update(annotations.get((str(record["plate"]), str(record["well"])), {}))
    table = tidy_table(records)
    table, notes = correct_plates(table, reference, path)
    leniencies.extend(notes)
    return AssayExport(table=table, path=path, format="softmax_pro", metadata=metadata,
                       leniencies=leniencies)


def _blocks(rows: list[list[str]]) -> list[tuple[int, list[list[str]]]]:
    blocks, current, start = [], [], 1
    for index, row in enumerate(rows[1:], start=1):
        if row and row[0].strip().startswith("~End"):
            blocks.append((start, current))
            current, start = [], index + 1
        elif current or trim(row):
            if not current:
                start = index
            current.append(row)
    return blocks


def _read_plate(block: list[list[str]], start: int, path: Path, analyte: str,
                metadata: dict[str, object]) -> list[dict[str, object]]:
    header = [c.strip() for c in block[0]] + [""] * 25
    name = header[_NAME]
    where = f"line {start + 1}"
    if header[_READ_TYPE] != "Endpoint":
        raise AssayFileError(f"plate {name} is a {header[_READ_TYPE] or 'unknown'} read; only endpoint "
                             "reads are supported", file=path, where=where,
                             hint="Export the endpoint (reduced) plate, or reduce kinetic data in SoftMax Pro.")
    try:
        wavelengths = [float(w) for w in header[_WAVELENGTHS].split()]
        n_columns, n_rows = int(header[_N_COLUMNS]), int(header[_N_ROWS])
    except ValueError:
        raise AssayFileError(f"the header of plate {name} has no wavelengths or plate size",
                             file=path, where=where) from None
    data_type = header[_DATA_TYPE]
    metadata["plates"][name] = {  # type: ignore[index]
        "format": header[_FORMAT], "mode": header[_MODE], "data_type": data_type, "wavelengths": wavelengths,
    }
    body = block[1:]
    if header[_FORMAT] == "PlateFormat":
        grids = _plate_format(body, n_rows, n_columns, len(wavelengths), data_type, path, start)
    elif header[_FORMAT] == "TimeFormat":
        grids = _time_format(body, len(wavelengths), data_type, path, start)
    else:
        raise AssayFileError(f"unknown export format {header[_FORMAT]!r} for plate {name}", file=path,
                             where=where, hint="Export in PlateFormat or TimeFormat.")
    records = []
    for read, cells in grids:
        wavelength = wavelengths[read] if isinstance(read, int) else math.nan
        label = f"{wavelength:g}" if isinstance(read, int) else read
        for well, cell in cells.items():
            value, flag = parse_value(cell)
            records.append({"plate": name, "well": well, "analyte": analyte, "signal": value,
                            "read": label, "wavelength": wavelength, "vendor_flag": flag})
    return records


def _plate_format(body: list[list[str]], n_rows: int, n_columns: int, n_wavelengths: int, data_type: str,
                  path: Path, start: int) -> list[tuple[int | str, dict[str, str]]]:
    lines = [r for r in body if trim(r)]
    grids: list[tuple[int | str, dict[str, str]]] = []
    raw = data_type != "Reduced"
    if raw:
        rows = lines[1:1 + n_rows]
        if len(rows) < n_rows:
            raise AssayFileError(f"the plate grid has {len(rows)} rows instead of {n_rows}", file=path,
                                 where=f"line {start + 2}")
        for w in range(n_wavelengths):
            offset = 2 + w * (n_columns + 1)
            grids.append((w, {well_name(r, c + 1): _cell(row, offset + c) for r, row in enumerate(rows)
                              for c in range(n_columns)}))
        lines = lines[1 + n_rows:]
    if lines:
        rows = lines[1:1 + n_rows]
        grids.append(("reduced", {well_name(r, c + 1): _cell(row, 2 + c) for r, row in enumerate(rows)
                                  for c in range(n_columns)}))
    return grids


def _time_format(body: list[list[str]], n_wavelengths: int, data_type: str, path: Path,
                 start: int) -> list[tuple[int | str, dict[str, str]]]:
    lines = [r for r in body if trim(r)]
    if not lines:
        raise AssayFileError("the plate block holds no data", file=path, where=f"line {start + 1}")
    columns = lines[0]
    wells = [(i, normalise_well(c)) for i, c in enumerate(columns)]
    wells = [(i, w) for i, w in wells if w is not None]
    data = [r for r in lines[1:] if r != columns]
    grids: list[tuple[int | str, dict[str, str]]] = []
    expected = (0 if data_type == "Reduced" else n_wavelengths) + (1 if data_type != "Raw" else 0)
    if len(data) < expected - (1 if data_type == "Both" else 0):
        raise AssayFileError(f"the plate block has {len(data)} data lines; {expected} expected",
                             file=path, where=f"line {start + 2}")
    for position, row in enumerate(data):
        read: int | str = position if data_type != "Reduced" and position < n_wavelengths else "reduced"
        grids.append((read, {well: _cell(row, i) for i, well in wells}))
    return grids


def _cell(row: list[str], index: int) -> str:
    return row[index] if index < len(row) else ""


def _group_rows(lines: list[list[str]]) -> list[dict[str, str]]:
    """The sample table at the top of a group block; sample name and concentration filled down."""
    if not lines:
        return []
    header = [c.strip() for c in lines[0]]
    filled = [h for h in header if h == "Sample" or h.startswith("Concentration")]
    table: list[dict[str, str]] = []
    for row in lines[1:]:
        if not trim(row):
            break
        entry = {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header) if h}
        for column in filled:
            if not entry.get(column) and table:
                entry[column] = table[-1][column]
        table.append(entry)
    return table


def _annotations(groups: list[tuple[str, list[dict[str, str]]]], plate: str,
                 ) -> dict[tuple[str, str], dict[str, object]]:
    annotations: dict[tuple[str, str], dict[str, object]] = {}
    for name, rows in groups:
        lowered = name.lower()
        kind = next((t for key, t in _GROUP_TYPES if lowered.startswith(key)), "unknown")
        for row in rows:
            well = normalise_well(row.get("Wells") or row.get("Well") or "")
            if well is None:
                continue
            sample = row.get("Sample", "")
            entry: dict[str, object] = {"sample_type": kind, "sample_id": f"{name}:{sample}"}
            if kind == "standard":
                entry["level"] = sample
                concentration = next((v for k, v in row.items() if k.startswith("Concentration")), "")
                entry["expected_concentration"] = parse_value(concentration)[0]
            result = row.get("Result", row.get("Results", ""))
            if result:
                entry["vendor_concentration"] = parse_value(result)[0]
            if row.get("R"):
                entry["vendor_flag"] = row["R"]
            annotations[(row.get("WellPlateName") or plate, well)] = entry
    return annotations
