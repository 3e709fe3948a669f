"""Plate layouts: which well holds a standard, a blank, a control or a sample.

A layout file is a plate-shaped CSV or XLSX (8 x 12 or 16 x 24) in the grid
format of ``docs/assay_readers.md``: optional ``key,value`` lines
(``Top concentration``, ``Dilution factor``, ``Unit``, ``Plate``) and one or
more grids whose top-left cell names what the grid holds (empty = well
contents, or ``sample_type``, ``sample_id``, ``level``, ``concentration``,
``dilution``). Well contents are codes: ``STD1``/``S1``/``Standard1``
(standard level 1 = the top concentration), ``BLK``/``B``/``Blank``,
``CTL1``/``C1``/``Control1``, ``QC1``, ``1/50`` (a standard at 1/50 of a
reference, in relative units), an empty cell or ``-`` (unused), anything else
a sample id. Layouts may also come from the instrument's own sample names
(:func:`classify_sample`), as xPONENT and Bio-Plex exports carry them.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from msclab.errors import AssayFileError
from msclab.io.assay_export import AssayExport
from msclab.io.plate_reader._text import read_text, sniff_delimiter, split_rows, trim
from msclab.io.plate_reader._wells import parse_value
from msclab.io.wells import normalise_well, well_sort_key
from msclab.io.plate_reader.grid import grid_columns, read_grid_block, xlsx_sheets

_STANDARD = re.compile(r"^(?:STD|S|Standard)\s*(\d+)?$", re.IGNORECASE)
_BLANK = re.compile(r"^(?:BLK|B|Blank|Background)\s*\d*$", re.IGNORECASE)
_CONTROL = re.compile(r"^(?:CTL|CTRL|C|Control)\s*(\d+)?$", re.IGNORECASE)
_QC = re.compile(r"^QC\s*(\w+)?$", re.IGNORECASE)
_RELATIVE = re.compile(r"^1\s*/\s*(\d+(?:\.\d+)?)$")
_UNUSED = {"", "-", "empty", "none", "n/a"}

#: Grid names (top-left cell) a layout file may use, and the column each fills.
GRID_FIELDS = {
    "": "content", "sample": "content", "layout": "content", "content": "content", "<>": "content",
    "sample_type": "sample_type", "type": "sample_type",
    "sample_id": "sample_id", "id": "sample_id",
    "level": "level",
    "concentration": "expected_concentration", "expected_concentration": "expected_concentration",
    "dilution": "dilution",
}
_LAYOUT_COLUMNS = ["sample_type", "sample_id", "level", "expected_concentration", "dilution"]


def classify_sample(name: str) -> dict[str, object]:
    """Sample type (and level / sample id) from a well's content code or sample name.

    ``"Standard3"``, ``"S3"``, ``"STD3"`` -> standard, level as written;
    ``"Background0"``, ``"B"``, ``"BLK"`` -> blank; ``"Control1"``, ``"C1"``,
    ``"CTL1"`` -> control; ``"QC2"`` -> qc; ``"1/50"`` -> standard at 1/50
    (relative units); anything else -> unknown with that sample id.
    Returns an empty dict for an empty or unused cell.
    """
    text = str(name).strip()
    if text.lower() in _UNUSED:
        return {}
    if _BLANK.match(text):
        return {"sample_type": "blank", "sample_id": text}
    match = _STANDARD.match(text)
    if match:
        entry: dict[str, object] = {"sample_type": "standard", "sample_id": text}
        if match.group(1):
            entry["level"] = text
            entry["_level_number"] = int(match.group(1))
        return entry
    if _QC.match(text):
        return {"sample_type": "qc", "sample_id": text}
    if _CONTROL.match(text):
        return {"sample_type": "control", "sample_id": text}
    match = _RELATIVE.match(text)
    if match and float(match.group(1)) > 0:
        return {"sample_type": "standard", "sample_id": text, "level": text,
                "expected_concentration": 1 / float(match.group(1))}
    return {"sample_type": "unknown", "sample_id": text}


@dataclass
class PlateLayout:
    """What each well of a plate holds.

    Attributes
    ----------
    wells
        One row per used well with the columns ``plate`` (None = every
        plate), ``well``, ``sample_type, sample_id, level,
        expected_concentration, dilution`` and ``level_number`` (1 = top standard).
    top_concentration
        Concentration of standard level 1, by analyte (``"*"`` = every analyte).
    dilution_factor
        Serial dilution factor between consecutive standard levels.
    unit
        Concentration unit of the standards.
    plate
        The plate a grid layout's ``Plate`` line names (None = every plate).
    path
        The layout file.
    unused
        Wells (``plate``, ``well``; plate None = every plate) left empty (or ``-``) in a grid of well
        codes and given no sample by another grid: unused wells, which :func:`apply_layout` removes
        unless the export itself names a sample there.
    """

    wells: pd.DataFrame
    top_concentration: dict[str, float] = field(default_factory=dict)
    dilution_factor: float | None = None
    unit: str | None = None
    plate: str | None = None
    path: Path | None = None
    unused: frozenset[tuple[str | None, str]] = frozenset()


def read_layout(path: str | Path) -> PlateLayout:
    """Read a plate-layout file: plate-shaped grids, or a long table with a ``well`` column.

    The long form has one row per well and the columns ``well`` and any of
    ``plate``, ``sample_type``, ``sample_id``, ``level``,
    ``expected_concentration`` (or ``concentration``) and ``dilution``.

    Raises
    ------
    AssayFileError
        When the file is empty, holds no grid or table, names an unknown grid
        or column, lists a well twice, or has text where a number is expected.
    """
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        sources = [(rows, (lambda i, s=name: f"sheet {s}, row {i + 1}")) for name, rows in xlsx_sheets(path)]
    else:
        text = read_text(path, [])
        sources = [(split_rows(text, sniff_delimiter(text, path)), (lambda i: f"line {i + 1}"))]
    wells: dict[tuple[str | None, str], dict[str, object]] = {}
    empty: set[tuple[str | None, str]] = set()
    layout = PlateLayout(wells=pd.DataFrame(), path=path)
    for rows, locate in sources:
        header = next((i for i, r in enumerate(rows) if any(str(c or "").strip() for c in r)), None)
        if header is not None and "well" in [str(c or "").strip().lower() for c in rows[header]]:
            _parse_long_rows(rows, header, locate, path, wells)
        else:
            _parse_layout_rows(rows, locate, path, layout, wells, empty)
    if not wells:
        raise AssayFileError("no plate grid found in the layout", file=path,
                             hint="A layout is a grid ',1,...,12' with rows A-H of well codes "
                             "(STD1, BLK, sample ids), or a table with a 'well' column; "
                             "see docs/assay_readers.md.")
    frame = pd.DataFrame([{"plate": plate, "well": well, **entry} for (plate, well), entry in wells.items()])
    for column in _LAYOUT_COLUMNS + ["_level_number"]:
        if column not in frame:
            frame[column] = math.nan
    frame = frame.rename(columns={"_level_number": "level_number"})
    if layout.plate is not None:
        frame["plate"] = frame["plate"].fillna(layout.plate)
    order = sorted(frame.index, key=lambda i: (str(frame.at[i, "plate"]), well_sort_key(frame.at[i, "well"])))
    layout.wells = frame.loc[order, ["plate", "well", *_LAYOUT_COLUMNS, "level_number"]].reset_index(drop=True)
    layout.unused = frozenset(
        (layout.plate if plate is None else plate, well) for plate, well in empty
        if not {"sample_type", "sample_id"} & set(wells.get((plate, well), {})))
    return layout


def _parse_long_rows(rows: list, header: int, locate, path: Path,
                     wells: dict[tuple[str | None, str], dict[str, object]]) -> None:
    columns = [str(c or "").strip().lower() for c in rows[header]]
    fields = {"plate": "plate", "well": "well", **{k: v for k, v in GRID_FIELDS.items() if v != "content"}}
    unknown = [c for c in columns if c and c not in fields]
    if unknown:
        raise AssayFileError(f"unknown layout column {unknown[0]!r}", file=path, where=locate(header),
                             hint="Columns: plate, well, sample_type, sample_id, level, "
                             "expected_concentration, dilution.")
    for index in range(header + 1, len(rows)):
        cells = {fields[c]: ("" if v is None else str(v).strip()) for c, v in zip(columns, rows[index]) if c}
        if not any(cells.values()):
            continue
        well = normalise_well(cells.get("well", ""))
        if well is None:
            raise AssayFileError(f"{cells.get('well', '')!r} is not a well name", file=path, where=locate(index))
        plate = cells.get("plate") or None
        if (plate, well) in wells:
            raise AssayFileError(f"well {well} is listed twice", file=path, where=locate(index))
        for column in ("sample_type", "sample_id", "level", "expected_concentration", "dilution"):
            if cells.get(column):
                _fill(wells, (plate, well), column, cells[column], path, locate(index))
        wells.setdefault((plate, well), {})


def _parse_layout_rows(rows: list, locate, path: Path, layout: PlateLayout,
                       wells: dict[tuple[str | None, str], dict[str, object]],
                       empty: set[tuple[str | None, str]]) -> None:
    index = 0
    while index < len(rows):
        cells = trim([("" if c is None else str(c).strip()) for c in rows[index]])
        if not cells:
            index += 1
            continue
        if grid_columns(rows[index]):
            block = read_grid_block(rows, index, path, locate)
            name = block.name.strip().lower()
            if name not in GRID_FIELDS:
                raise AssayFileError(
                    f"unknown layout grid {block.name!r}", file=path, where=locate(index),
                    hint="Name a grid in its top-left cell: empty (well codes), sample_type, sample_id, "
                    "level, concentration or dilution.")
            for well, cell in block.cells.items():
                _fill(wells, (None, well), GRID_FIELDS[name], cell, path, locate(index))
                if GRID_FIELDS[name] == "content" and _is_unused(cell):
                    empty.add((None, well))
            index = block.end
            continue
        key = cells[0].rstrip(":").strip().lower()
        values = cells[1:]
        where = locate(index)
        if key == "top concentration":
            analyte, text = (values[0], values[1]) if len(values) > 1 else ("*", values[0] if values else "")
            layout.top_concentration[analyte] = _number(text, path, where, "top concentration")
        elif key == "dilution factor":
            layout.dilution_factor = _dilution(values[0] if values else "", path, where)
        elif key == "unit":
            layout.unit = values[0] if values else None
        elif key == "plate":
            layout.plate = values[0] if values else None
        else:
            raise AssayFileError(f"unknown layout line {cells[0]!r}", file=path, where=where,
                                 hint="Known lines: Top concentration, Dilution factor, Unit, Plate.")
        index += 1


def _is_unused(cell: object) -> bool:
    """An empty (or ``-``) cell of a grid of well codes: an unused well."""
    return cell is None or (isinstance(cell, float) and math.isnan(cell)) or str(cell).strip().lower() in _UNUSED


def _fill(wells: dict[tuple[str | None, str], dict[str, object]], key: tuple[str | None, str], column: str,
          cell: object, path: Path, where: str) -> None:
    text = "" if cell is None else (f"{cell:g}" if isinstance(cell, float) else str(cell)).strip()
    if text.lower() in _UNUSED:
        return
    well = key[1]
    entry = wells.setdefault(key, {})
    if column == "content":
        entry.update(classify_sample(text))
    elif column == "expected_concentration":
        entry[column] = _number(text, path, f"{where}, well {well}", "concentration")
    elif column == "dilution":
        entry[column] = _dilution(text, path, f"{where}, well {well}")
    elif column == "level":
        entry["level"] = text
        number = re.search(r"(\d+)$", text)
        if number:
            entry["_level_number"] = int(number.group(1))
    elif column == "sample_type":
        kind = text.lower()
        if kind not in ("standard", "blank", "control", "qc", "unknown"):
            raise AssayFileError(f"unknown sample type {text!r}", file=path, where=f"{where}, well {well}",
                                 hint="Use standard, blank, control, qc or unknown.")
        entry["sample_type"] = kind
    else:
        entry[column] = text


def _number(text: str, path: Path, where: str, what: str) -> float:
    value, _ = parse_value(text)
    if math.isnan(value) or value < 0:
        raise AssayFileError(f"{what} {text!r} is not a non-negative number", file=path, where=where)
    return value


def _dilution(text: str, path: Path, where: str) -> float:
    match = _RELATIVE.match(text)
    value = float(match.group(1)) if match else parse_value(text)[0]
    if math.isnan(value) or value <= 0:
        raise AssayFileError(f"dilution {text!r} is not a positive number or '1/N'", file=path, where=where,
                             hint="Write a dilution factor as 10 or 1/10 (1 = neat).")
    return value


def apply_layout(export: AssayExport, layout: PlateLayout, *, check_series: bool = True,
                 require_standards: bool = True) -> AssayExport:
    """Annotate an export's wells with a layout.

    Layout values replace what the reader found; wells the layout leaves
    empty keep the reader's values. Standards get their expected
    concentration from a ``concentration`` grid or a ``1/N`` code, else from
    ``Top concentration / Dilution factor ** (level - 1)`` for each analyte.

    Parameters
    ----------
    export
        What a reader returned.
    layout
        What :func:`read_layout` returned.
    check_series, require_standards
        Passed to :func:`check_standards` on the result.

    Returns
    -------
    AssayExport
        A new export; the input is not modified.

    Raises
    ------
    AssayFileError
        Unknown plate or analyte named by the layout, a standard without a
        concentration, or a failed :func:`check_standards`.
    """
    where_file = layout.path or export.path
    table, dropped = _drop_unused(export.table, layout)
    wells = layout.wells
    plates = set(wells["plate"].dropna())
    if plates and wells["plate"].notna().all() and not plates & set(table["plate"]):
        raise AssayFileError(
            f"the layout is for plate {', '.join(repr(p) for p in sorted(plates))}, "
            f"which is not in {export.path.name}", file=where_file,
            hint=f"Plates in the export: {', '.join(sorted(set(table['plate'])))}.")
    check_analytes(export, [a for a in layout.top_concentration if a != "*"], file=where_file,
                   what="the layout's top concentrations")
    found = _lookup(table, wells)
    for column in _LAYOUT_COLUMNS:
        if column not in table:
            table[column] = pd.Series(math.nan, index=table.index,
                                      dtype=object if column in ("sample_type", "sample_id", "level") else float)
        elif column in ("sample_type", "sample_id", "level"):
            table[column] = table[column].astype(object)
    for column in ("sample_type", "sample_id", "level", "dilution"):
        has = found[column].notna()
        table.loc[has, column] = found.loc[has, column]
    for row in found.index[found["expected_concentration"].notna() | found["level_number"].notna()]:
        value = found.at[row, "expected_concentration"]
        if math.isnan(value):
            level = int(found.at[row, "level_number"])
            value = _level_concentration(layout, table.at[row, "analyte"], level)
            if value == 0 or math.isinf(value):
                raise AssayFileError(
                    f"standard level {level} has no usable concentration (top concentration / dilution factor"
                    f"^{level - 1} is {value:g})", file=where_file, where=f"well {table.at[row, 'well']}",
                    hint="Standard levels count from 1 (the top standard); check the level and the dilution factor.")
        if not math.isnan(value):
            table.at[row, "expected_concentration"] = value
    selected = found.notna().any(axis=1)
    is_standard = table["sample_type"] == "standard"
    missing = selected & is_standard & table["expected_concentration"].isna()
    if missing.any():
        well = table.loc[missing, "well"].iloc[0]
        raise AssayFileError(
            "standard well without a concentration", file=where_file, where=f"well {well}",
            hint="Give the standards a 'concentration' grid, or levels (STD1..) with "
            "'Top concentration' and 'Dilution factor' lines.")
    leniencies = [*export.leniencies, f"plate layout {where_file} applied"]
    if dropped:
        leniencies.append(f"{dropped} well(s) left empty in the layout {where_file} are unused: not read as samples")
    metadata = {**export.metadata, "layout": str(where_file)}
    if layout.unit:
        metadata["layout_unit"] = layout.unit
    result = replace(export, table=table, metadata=metadata, leniencies=leniencies)
    check_standards(result, require=require_standards, check_series=check_series)
    return result


def _drop_unused(table: pd.DataFrame, layout: PlateLayout) -> tuple[pd.DataFrame, int]:
    """The export's rows without the layout's unused wells (kept where the export names a sample there).

    An empty cell of a layout is an unused well (``docs/assay_readers.md``, "Plate layouts"): a reader
    reads every well of the plate, but an unused one is not a sample, so it must not become an
    ``unknown`` sample with a ``<LLOQ`` flag.
    """
    if not layout.unused:
        return table.copy(), 0
    every = {well for plate, well in layout.unused if plate is None}
    specific = {(plate, well) for plate, well in layout.unused if plate is not None}
    keys = list(zip(table["plate"].astype(str), table["well"], strict=True))
    empty = pd.Series([well in every or (plate, well) in specific for plate, well in keys], index=table.index)
    for column in ("sample_id", "sample_type"):
        if column in table:
            text = table[column].fillna("").astype(str).str.strip()
            named = text != "" if column == "sample_id" else ~text.isin(["", "unknown"])
            empty &= ~named
    return table.loc[~empty].copy(), int(empty.sum())


def _lookup(table: pd.DataFrame, wells: pd.DataFrame) -> pd.DataFrame:
    """Layout values for each row of ``table`` (plate-specific entries win over any-plate ones)."""
    columns = [*_LAYOUT_COLUMNS, "level_number"]
    keys = table[["plate", "well"]].reset_index()
    specific = keys.merge(wells[wells["plate"].notna()], on=["plate", "well"], how="left").set_index("index")
    generic = keys.merge(wells[wells["plate"].isna()].drop(columns="plate"), on="well", how="left")
    found = specific[columns].combine_first(generic.set_index("index")[columns])
    return found.reindex(table.index)


def _level_concentration(layout: PlateLayout, analyte: str, level: int) -> float:
    top = layout.top_concentration.get(analyte, layout.top_concentration.get("*"))
    if top is None or layout.dilution_factor is None:
        return math.nan
    try:
        return top / layout.dilution_factor ** (level - 1)
    except OverflowError:  # a level far beyond any series: the concentration underflows
        return 0.0
    except ZeroDivisionError:
        return math.inf


def check_analytes(export: AssayExport, names: Iterable[str], *, file: Path | None = None,
                   what: str = "the analytes asked for") -> None:
    """Raise when a name is not an analyte of the export, suggesting the closest one.

    Raises
    ------
    AssayFileError
        Naming the first unknown analyte, the ones the export has and a close match.
    """
    known = list(dict.fromkeys(export.table["analyte"]))
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"Analytes in {export.path.name}: {', '.join(known)}."
            if close:
                hint = f"Did you mean {close[0]!r}? " + hint
            raise AssayFileError(f"unknown analyte {name!r} in {what}", file=file or export.path, hint=hint)


def check_standards(export: AssayExport, *, require: bool = True, check_series: bool = True,
                    tolerance: float = 0.1) -> None:
    """Check that every plate has usable standards for every analyte.

    Parameters
    ----------
    export
        An export with ``sample_type`` and ``expected_concentration`` columns.
    require
        Raise when a plate x analyte has no standard well.
    check_series
        Raise when the distinct standard concentrations (three or more) do not
        follow one dilution ratio within ``tolerance`` (relative), naming the
        first well of the level that breaks it.
    tolerance
        Allowed relative deviation of a step's ratio from the median ratio.

    Raises
    ------
    AssayFileError
        Plate without standards, or irregular standard series.
    """
    table = export.table
    if "sample_type" not in table:
        if require:
            raise AssayFileError(
                "no well is marked as a standard", file=export.path,
                hint="Apply a plate layout (layout=...) that marks the standard wells (STD1, STD2, ...).")
        return
    for (plate, analyte), rows in table.groupby(["plate", "analyte"], sort=False):
        standards = rows[rows["sample_type"] == "standard"]
        if standards.empty:
            if require:
                raise AssayFileError(
                    f"plate {plate} has no standard wells for {analyte}", file=export.path,
                    where=f"plate {plate}",
                    hint="A concentration needs a standard curve on the same plate: mark the standard "
                    "wells in the layout (STD1, STD2, ...).")
            continue
        if check_series and "expected_concentration" in standards:
            _check_series(export.path, str(plate), str(analyte), standards, tolerance)


def _check_series(path: Path, plate: str, analyte: str, standards: pd.DataFrame, tolerance: float) -> None:
    concentrations = standards["expected_concentration"]
    levels = sorted({c for c in concentrations if c > 0}, reverse=True)
    if len(levels) < 3:
        return
    ratios = [a / b for a, b in zip(levels, levels[1:])]
    typical = float(pd.Series(ratios).median())
    for step, ratio in enumerate(ratios):
        if abs(ratio / typical - 1) > tolerance:
            after = levels[step + 1]
            wells = sorted(standards.loc[concentrations == after, "well"], key=well_sort_key)
            raise AssayFileError(
                f"the standard series of {analyte} on plate {plate} is not a constant dilution: "
                f"{levels[step]:g} -> {after:g} is 1:{ratio:.3g}, the other steps 1:{typical:.3g}",
                file=path, where=f"well {wells[0]}",
                hint="Correct that concentration (a typo or a lost decimal point?), or pass "
                "check_series=False if the series is irregular on purpose.")
