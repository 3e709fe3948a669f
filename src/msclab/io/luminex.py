"""Luminex xPONENT CSV exports.

An xPONENT export has ``key,value`` header lines (``Program,xPONENT,,<instrument>``,
``Build``, ``Batch``, ``ProtocolName`` ...), a ``Results`` line, then sections
each introduced by ``DataType:,<name>``: per-well tables (``Location,Sample,
<analytes>...``; location ``"1(1,A1)"`` = index(plate,well)) such as Median,
Net MFI, Count, Result, % Recovery, Comments, Dilution Factor; per-sample tables
(Avg Result, %CV Replicates); per-reagent tables (Standard / Control Expected
Concentration); per-analyte tables (Units, Analysis Types, Analysis
Coefficients, R^2). Files re-saved by Excel lose quotes and blank lines and may
use semicolons with decimal commas; older files are Windows-1252.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from msclab.errors import AssayFileError
from msclab.io.assay_export import AssayExport
from msclab.io.layout import classify_sample
from msclab.io.plate_reader._table import tidy_table
from msclab.io.plate_reader._text import DELIMITER_NAMES, read_text, split_rows, trim
from msclab.io.plate_reader._wells import parse_value
from msclab.io.wells import normalise_well

_LOCATION = re.compile(r"^(\d+)\((\d+),\s*([A-Pa-p]\d{1,2})\)$")
_SPLIT_LOCATION = (re.compile(r"^\d+\(\d+$"), re.compile(r"^[A-Pa-p]\d{1,2}\)$"))
_SIGNAL_SECTIONS = ("Net MFI", "Median")
_NON_ANALYTE = {"Total Events", ""}

#: The xPONENT "Logistic 5P" equation its coefficients belong to.
XPONENT_5PL = "y = A + (B - A) / (1 + (x / C)^D)^F"


def read_xponent(path: str | Path, *, signal: str = "auto") -> AssayExport:
    """Read an xPONENT CSV export.

    Parameters
    ----------
    path
        The ``.csv`` export.
    signal
        Section used as ``signal``: ``"auto"`` = ``Net MFI`` (what xPONENT fits
        its curves on) when present, else ``Median``; or any per-well section
        name (``"Median"``, ``"Mean"``, ``"Trimmed Mean"`` ...).

    Returns
    -------
    AssayExport
        Format ``"xponent"``; one row per well x analyte with ``sample_type``,
        ``sample_id``, ``level`` (from the sample names), ``bead_count``
        (Count), ``dilution`` (Dilution Factor), ``expected_concentration``
        (Standard/Control Expected Concentration), ``vendor_concentration``
        (Result) and ``vendor_flag`` (``< x``, ``> x``, ``NaN``, Comments).
        ``metadata["vendor_curves"][analyte]`` holds xPONENT's model,
        equation, coefficients A-F and R^2; ``metadata["units"]`` the units.

    Raises
    ------
    AssayFileError
        Not an xPONENT file, wrong delimiter, no Median/Net MFI section, or a
        malformed well location.
    """
    path = Path(path)
    leniencies: list[str] = []
    text = read_text(path, leniencies)
    delimiter = _delimiter(text, path)
    decimal_comma = delimiter == ";"
    if delimiter != ",":
        leniencies.append(f"{DELIMITER_NAMES[delimiter]}-delimited"
                          + (": decimal commas accepted" if decimal_comma else ""))
    rows = [trim(r) for r in split_rows(text, delimiter)]
    header, sections = _split_sections(rows, path)
    signal_name = _signal_section(signal, sections, path)
    wells = _well_table(sections[signal_name], signal_name, path, leniencies)
    analytes = [c for c in wells.columns if c not in ("_index", "_plate", "well", "Sample")]
    plates = sorted(set(wells["_plate"]))
    batch = header.get("Batch", [path.stem])[0] or path.stem
    plate_ids = {p: batch if len(plates) == 1 else f"{batch}-{p}" for p in plates}

    per_well = {name: _well_table(rows_, name, path, leniencies).set_index(["_plate", "well"])
                for name, rows_ in sections.items()
                if rows_ and rows_[0][:2] == ["Location", "Sample"] and name != signal_name}
    standards = _reagent_table(sections.get("Standard Expected Concentration"))
    controls = _reagent_table(sections.get("Control Expected Concentration"))
    leniencies.extend(_repair_standards(standards))

    records = []
    for _, well_row in wells.iterrows():
        key = (well_row["_plate"], well_row["well"])
        sample = str(well_row["Sample"])
        kind = classify_sample(sample) or {"sample_type": "unknown", "sample_id": sample}
        kind.pop("_level_number", None)
        for analyte in analytes:
            value, flag = parse_value(well_row[analyte], decimal_comma=decimal_comma)
            record: dict[str, object] = {
                "plate": plate_ids[well_row["_plate"]], "well": well_row["well"], "analyte": analyte,
                "signal": value, **kind, "vendor_flag": flag,
            }
            _add_well_values(record, per_well, key, analyte, decimal_comma)
            expected = (standards if kind.get("sample_type") == "standard" else controls).get(sample, {})
            if analyte in expected:
                record["expected_concentration"] = expected[analyte]
            records.append(record)
    metadata = _metadata(header, sections, analytes, decimal_comma)
    metadata["signal"] = signal_name
    metadata["plates"] = {plate_ids[p]: p for p in plates}
    return AssayExport(table=tidy_table(records), path=path, format="xponent", metadata=metadata,
                       leniencies=leniencies)


def _delimiter(text: str, path: Path) -> str:
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    match = re.match(r'^"?Program"?(.)', first)
    if not match or "xPONENT" not in first:
        raise AssayFileError(
            "not an xPONENT export: the first line is not 'Program,xPONENT,...'",
            file=path, where="line 1", hint="Export the batch from xPONENT as CSV (File > Export).")
    delimiter = match.group(1)
    if delimiter not in DELIMITER_NAMES:
        raise AssayFileError(
            f"unsupported delimiter {delimiter!r} after 'Program'", file=path, where="line 1",
            hint="Export as comma-, semicolon- or tab-separated text.")
    return delimiter


def _split_sections(rows: list[list[str]], path: Path) -> tuple[dict[str, list[str]], dict[str, list[list[str]]]]:
    header: dict[str, list[str]] = {}
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for row in rows:
        if not row:
            continue
        head = row[0]
        if head in ("DataType:", "Data Type:"):
            name = row[1] if len(row) > 1 else ""
            current = sections.setdefault(name, [])
        elif head == "-- CRC --":
            current = None
        elif current is not None:
            current.append(row)
        elif head and head not in header:
            header[head] = row[1:]
    if not sections:
        raise AssayFileError(
            "no 'DataType:' section: the export holds no results", file=path,
            hint="Export the batch after acquisition, with the Results included.")
    return header, sections


def _signal_section(signal: str, sections: dict[str, list[list[str]]], path: Path) -> str:
    if signal == "auto":
        for name in _SIGNAL_SECTIONS:
            if sections.get(name):
                return name
        raise AssayFileError(
            "missing section: neither 'Median' nor 'Net MFI' is in the export", file=path,
            hint=f"Sections found: {', '.join(sections)}. Export the Median (or Net MFI) statistic.")
    if not sections.get(signal) or sections[signal][0][:2] != ["Location", "Sample"]:
        per_well = [n for n, r in sections.items() if r and r[0][:2] == ["Location", "Sample"]]
        raise AssayFileError(f"missing section {signal!r}", file=path,
                             hint=f"Per-well sections in this export: {', '.join(per_well)}.")
    return signal


def _well_table(rows: list[list[str]], name: str, path: Path, leniencies: list[str]) -> pd.DataFrame:
    columns = rows[0]
    if columns[:2] != ["Location", "Sample"]:
        raise AssayFileError(f"section {name!r} does not start with 'Location,Sample'", file=path,
                             hint="The export may be damaged; export it again from xPONENT.")
    parsed = []
    for row in rows[1:]:
        row = _join_location(row, leniencies)
        match = _LOCATION.match(row[0])
        if not match:
            raise AssayFileError(f"bad well location {row[0]!r} in section {name!r}", file=path,
                                 hint="Locations look like \"1(1,A1)\" and must be quoted in CSV.")
        values = row[2:] + [""] * (len(columns) - len(row))
        entry = {"_index": int(match.group(1)), "_plate": int(match.group(2)),
                 "well": normalise_well(match.group(3)), "Sample": row[1] if len(row) > 1 else ""}
        entry.update({c: v for c, v in zip(columns[2:], values) if c not in _NON_ANALYTE})
        parsed.append(entry)
    analytes = [c for c in columns[2:] if c not in _NON_ANALYTE]
    table = pd.DataFrame(parsed, columns=["_index", "_plate", "well", "Sample"] + analytes)
    repeated = sorted({c for c in analytes if analytes.count(c) > 1})
    if repeated:
        raise AssayFileError(f"section {name!r} names the column(s) {', '.join(repeated)} twice", file=path,
                             hint="The export may be damaged; export it again from xPONENT.")
    twice = table[table.duplicated(["_plate", "well"])]
    if len(twice):
        first = twice.iloc[0]
        raise AssayFileError(f"well {first['well']} of plate {first['_plate']} is listed twice in section {name!r}",
                             file=path, hint="The export may be damaged; export it again from xPONENT.")
    return table


def _join_location(row: list[str], leniencies: list[str]) -> list[str]:
    if len(row) > 1 and _SPLIT_LOCATION[0].match(row[0]) and _SPLIT_LOCATION[1].match(row[1]):
        note = "unquoted well locations rejoined (1(1 + A1) -> 1(1,A1))"
        if note not in leniencies:
            leniencies.append(note)
        return [f"{row[0]},{row[1]}", *row[2:]]
    return row


def _reagent_table(rows: list[list[str]] | None) -> dict[str, dict[str, float]]:
    """``Reagent,<analytes>`` tables: sample name -> analyte -> number."""
    if not rows:
        return {}
    columns = rows[0]
    table = {}
    for row in rows[1:]:
        values = {c: parse_value(v, decimal_comma=True)[0] for c, v in zip(columns[1:], row[1:]) if c}
        table[row[0]] = {c: v for c, v in values.items() if not math.isnan(v)}
    return table


def _repair_standards(standards: dict[str, dict[str, float]]) -> list[str]:
    """Undo Excel's thousands-separator damage in standard concentrations (``1303.125 -> 1303125``).

    When a level is 1000 times what the neighbouring levels' constant dilution
    ratio predicts, it is divided by 1000. Returns one note per repaired value.
    """
    notes = []
    names = sorted(standards, key=lambda n: int(re.sub(r"\D", "", n) or 0))
    analytes = {a for values in standards.values() for a in values}
    for analyte in sorted(analytes):
        series = [(n, standards[n][analyte]) for n in names if analyte in standards[n]]
        ratios = [a / b for (_, a), (_, b) in zip(series, series[1:]) if b > 0 and 1.2 < a / b < 100]
        if len(series) < 3 or not ratios:
            continue
        ratio = float(pd.Series(ratios).median())
        previous = series[0][1]
        for name, value in series[1:]:
            expected = previous / ratio
            if abs(value / expected - 1) > 0.05 and abs(value / 1000 / expected - 1) <= 0.05:
                standards[name][analyte] = value / 1000
                notes.append(f"{analyte} {name} expected concentration {value:.12g} read as {value / 1000:.12g} "
                             "(decimal point lost to a thousands separator)")
            previous = standards[name][analyte]
    return notes


def _add_well_values(record: dict[str, object], per_well: dict[str, pd.DataFrame], key: tuple[int, str],
                     analyte: str, decimal_comma: bool) -> None:
    flags = [record["vendor_flag"]] if record.get("vendor_flag") else []
    lookups = per_well
    if "Count" in lookups and analyte in lookups["Count"]:
        record["bead_count"] = parse_value(_get(lookups["Count"], key, analyte), decimal_comma=decimal_comma)[0]
    if "Result" in lookups and analyte in lookups["Result"]:
        value, flag = parse_value(_get(lookups["Result"], key, analyte), decimal_comma=decimal_comma)
        record["vendor_concentration"] = value
        if flag:
            flags.append(flag)
    if "Comments" in lookups and analyte in lookups["Comments"]:
        comment = _get(lookups["Comments"], key, analyte)
        if comment:
            flags.append(comment)
    if "Dilution Factor" in lookups and "Dilution Factor" in lookups["Dilution Factor"]:
        value, _ = parse_value(_get(lookups["Dilution Factor"], key, "Dilution Factor"),
                               decimal_comma=decimal_comma)
        if not math.isnan(value):
            record["dilution"] = value
    record["vendor_flag"] = "; ".join(str(f) for f in flags) if flags else None


def _get(table: pd.DataFrame, key: tuple[int, str], column: str) -> str:
    try:
        value = table.at[key, column]
    except KeyError:
        return ""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _metadata(header: dict[str, list[str]], sections: dict[str, list[list[str]]], analytes: list[str],
              decimal_comma: bool) -> dict[str, object]:
    program = header.get("Program", [])
    metadata: dict[str, object] = {
        "instrument": program[2] if len(program) > 2 else None,
        "header": {k: [v for v in vals if v] for k, vals in header.items()},
        "sections": list(sections),
    }
    per_analyte = {name: _analyte_rows(sections.get(name)) for name in
                   ("Units", "Analysis Types", "Analysis Coefficients", "R^2")}
    units = per_analyte["Units"].get("Units:", {})
    metadata["units"] = {a: units.get(a) or None for a in analytes}
    metadata["bead_ids"] = per_analyte["Units"].get("BeadID:", {})
    models = per_analyte["Analysis Types"].get("AnalysisType", {})
    coefficients = per_analyte["Analysis Coefficients"]
    r2 = per_analyte["R^2"].get("Value", {})
    curves = {}
    for analyte in analytes:
        model = models.get(analyte)
        if not model or model == "None":
            continue
        params = {}
        for row_name, values in coefficients.items():
            letter = row_name.removeprefix("Coefficient").strip()
            number = parse_value(values.get(analyte, ""), decimal_comma=decimal_comma)[0]
            if letter and not math.isnan(number):
                params[letter] = number
        curves[analyte] = {
            "model": model,
            "equation": XPONENT_5PL if model == "Logistic 5P" else None,
            "params": params,
            "r2": parse_value(r2.get(analyte, ""), decimal_comma=decimal_comma)[0],
        }
    metadata["vendor_curves"] = curves
    warnings = sections.get("Warnings/Errors", [])
    metadata["warnings"] = [", ".join(r) for r in warnings[1:]]
    return metadata


def _analyte_rows(rows: list[list[str]] | None) -> dict[str, dict[str, str]]:
    """Sections with an ``Analyte:`` header row: row name -> analyte -> cell."""
    if not rows:
        return {}
    analytes = rows[0][1:]
    return {row[0]: {a: v for a, v in zip(analytes, row[1:]) if a} for row in rows[1:] if row}
