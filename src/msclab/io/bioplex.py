"""Bio-Rad Bio-Plex Manager XLSX exports (one sheet per analyte).

Each analyte sheet (``IL-6 (12)``: analyte and bead region) has header lines
(``File Name:``, ``Analyte:``, ``Plate ID:`` ...), a table with the columns
``Analyte, Type, Well, Outlier, Description, FI, FI - Bkgd, ..., Obs Conc,
Exp Conc, ..., Dilution`` and a footer (flag legend, regression type and the
fitted equation). Replicate wells share one row (``Well = "C1,D1"``) holding
their mean. Cells may read ``OOR <``, ``OOR >`` (out of range), ``*12.3``
(extrapolated), ``***`` (not available) or ``---`` (outlier).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from msclab.errors import AssayFileError
from msclab.io.assay_export import AssayExport
from msclab.io.layout import classify_sample
from msclab.io.plate_reader._table import tidy_table
from msclab.io.plate_reader._wells import parse_value
from msclab.io.wells import normalise_well
from msclab.io.plate_reader.grid import xlsx_sheets

_SHEET = re.compile(r"^(?P<analyte>.*?)\s*\((?P<region>\d+)\)\s*$")
_EQUATION_4PL = re.compile(
    r"FI\s*=\s*(?P<A>[-+\d.eE]+)\s*\+\s*\((?P<B>[-+\d.eE]+)\s*-\s*[-+\d.eE]+\)\s*/\s*"
    r"\(1\s*\+\s*\(Conc\s*/\s*(?P<C>[-+\d.eE]+)\)\s*\^\s*(?P<D>[-+\d.eE]+)\)")
_TYPES = {"B": "blank", "S": "standard", "ES": "standard", "C": "control", "X": "unknown"}

#: The Bio-Plex 4PL equation its parameters belong to.
BIOPLEX_4PL = "FI = A + (B - A) / (1 + (Conc / C)^D)"


def read_bioplex(path: str | Path) -> AssayExport:
    """Read a Bio-Plex Manager Excel export.

    Parameters
    ----------
    path
        The ``.xlsx`` workbook.

    Returns
    -------
    AssayExport
        Format ``"bioplex"``; one row per table row (replicates share a row:
        ``well`` is the first well, ``replicate_wells`` lists them all).
        ``signal`` is ``FI - Bkgd`` (what Bio-Plex fits), ``vendor_concentration``
        ``Obs Conc``, ``expected_concentration`` ``Exp Conc``; flags in
        ``vendor_flag``. ``metadata["vendor_curves"][analyte]`` holds the
        regression type, equation and parameters.

    Raises
    ------
    AssayFileError
        When no sheet holds the Bio-Plex table (``Type``, ``Well``, ``FI`` columns).
    """
    path = Path(path)
    if path.suffix.lower() == ".xls":
        raise AssayFileError("old Excel (.xls) workbooks are not read", file=path,
                             hint="Open the file in Excel and save it as .xlsx.")
    records: list[dict[str, object]] = []
    metadata: dict[str, object] = {"vendor_curves": {}, "bead_regions": {}, "sheets": {}}
    for sheet, rows in xlsx_sheets(path):
        header_index = next((i for i, r in enumerate(rows) if _is_table_header(r)), None)
        if header_index is None:
            metadata["sheets"][sheet] = "not an analyte table"  # type: ignore[index]
            continue
        records.extend(_read_sheet(path, sheet, rows, header_index, metadata))
    if not records:
        raise AssayFileError(
            "missing section: no sheet holds a Bio-Plex results table (Type, Well, FI columns)",
            file=path, hint="Export the per-analyte report from Bio-Plex Manager as Excel.")
    return AssayExport(table=tidy_table(records), path=path, format="bioplex", metadata=metadata,
                       leniencies=["replicate wells exported as one row: well = first replicate, "
                                   "signal = Bio-Plex's mean"])


def _is_table_header(row: list[object]) -> bool:
    cells = {str(c).strip() for c in row if c is not None}
    return {"Type", "Well", "FI"} <= cells


def _read_sheet(path: Path, sheet: str, rows: list[list[object]], header_index: int,
                metadata: dict[str, object]) -> list[dict[str, object]]:
    match = _SHEET.match(sheet)
    analyte = match.group("analyte") if match else sheet
    if match:
        metadata["bead_regions"][analyte] = int(match.group("region"))  # type: ignore[index]
    info = {}
    for row in rows[:header_index]:
        text = str(row[0]).strip() if row and row[0] is not None else ""
        key, sep, value = text.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    plate = info.get("Plate ID") or path.stem
    columns = [str(c).strip() if c is not None else "" for c in rows[header_index]]
    signal_column = "FI - Bkgd" if "FI - Bkgd" in columns else "FI"
    records = []
    index = header_index + 1
    for index in range(header_index + 1, len(rows)):
        row = rows[index]
        if not row or all(c is None for c in row):
            break
        cell = dict(zip(columns, row))
        wells = [normalise_well(w) for w in str(cell.get("Well") or "").split(",")]
        if not wells or None in wells:
            raise AssayFileError(f"bad well {cell.get('Well')!r}", file=path,
                                 where=f"sheet {sheet}, row {index + 1}")
        records.append(_record(cell, plate, analyte, wells, signal_column))
    metadata["vendor_curves"][analyte] = _curve(rows[index:])  # type: ignore[index]
    metadata["sheets"][sheet] = {"analyte": analyte, **info}  # type: ignore[index]
    return records


def _record(cell: dict[str, object], plate: str, analyte: str, wells: list[str | None],
            signal_column: str) -> dict[str, object]:
    code = str(cell.get("Type") or "").strip()
    letters = re.match(r"^([A-Z]+)(\d*)$", code)
    kind = _TYPES.get(letters.group(1), "unknown") if letters else "unknown"
    description = cell.get("Description")
    sample_id = str(description).strip() if description not in (None, "") else code
    signal, signal_flag = parse_value(cell.get(signal_column))
    observed, observed_flag = _concentration(cell.get("Obs Conc"))
    expected, _ = parse_value(cell.get("Exp Conc"))
    dilution, _ = parse_value(cell.get("Dilution"))
    in_range, in_range_flag = parse_value(cell.get("Conc in Range"))
    flags = [f for f in (signal_flag, observed_flag) if f]
    if in_range_flag and math.isnan(in_range):
        flags.append(f"Conc in Range {in_range_flag}")
    if cell.get("Outlier") not in (None, 0, "0", ""):
        flags.append("outlier")
    record: dict[str, object] = {
        "plate": plate, "well": wells[0], "analyte": analyte, "signal": signal,
        "sample_type": kind if kind != "unknown" else classify_sample(sample_id).get("sample_type", "unknown"),
        "sample_id": sample_id, "expected_concentration": expected,
        "dilution": dilution if not math.isnan(dilution) else None,
        "replicate_wells": ",".join(w for w in wells if w),
        "vendor_concentration": observed, "vendor_flag": "; ".join(dict.fromkeys(flags)) or None,
    }
    if kind == "standard":
        record["level"] = code
    return record


def _concentration(cell: object) -> tuple[float, str | None]:
    """``*12.3`` -> (12.3, "*"); ``OOR <`` -> (nan, "OOR <"); a number -> (number, None)."""
    text = "" if cell is None else str(cell).strip()
    if text.startswith("*") and not text.startswith("***"):
        value, flag = parse_value(text[1:])
        return (value, "*") if flag is None else (math.nan, text)
    return parse_value(cell)


def _curve(footer: list[list[object]]) -> dict[str, object]:
    lines = [str(r[0]).strip() for r in footer if r and r[0] is not None]
    curve: dict[str, object] = {}
    for line in lines:
        if line.startswith("Regression Type:"):
            curve["model"] = line.partition(":")[2].strip()
        elif line.startswith("Std. Curve:"):
            curve["equation_text"] = line.partition(":")[2].strip()
            match = _EQUATION_4PL.search(line)
            if match:
                curve["equation"] = BIOPLEX_4PL
                curve["params"] = {k: float(v) for k, v in match.groupdict().items()}
        elif line.startswith("FitProb."):
            curve["fit"] = line
    return curve
