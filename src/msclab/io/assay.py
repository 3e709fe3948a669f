"""One entry point for every cytokine-assay export: :func:`read_assay`.

Every supported format is one :class:`Reader` entry of :data:`READERS`: its
name, the other names a user may give it, ``can_open(path)`` that recognises
the file from its own content (not its name), and ``read(path, **options)``.
:func:`detect_format` asks the entries in table order; a new format is one
reader module plus one entry here. Bead-array plates (LEGENDplex/CBA, FCS files
read on a cytometer) are read by :func:`msclab.assay.read_assay`, which adds
them on top of this table.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from msclab.errors import AssayFileError
from msclab.io.assay_export import AssayExport
from msclab.io.bioplex import read_bioplex
from msclab.io.layout import PlateLayout, apply_layout, check_analytes, read_layout
from msclab.io.luminex import read_xponent
from msclab.io.plate_reader import read_bmg, read_gen5, read_grid, read_softmax, read_tecan
from msclab.io.plate_reader._text import read_text
from msclab.io.plate_reader.grid import grid_columns, xlsx_sheets

_EXCEL = (".xlsx", ".xlsm")


@dataclass(frozen=True)
class Reader:
    """One assay-export format.

    Attributes
    ----------
    name
        The format's name (``format=`` of :func:`read_assay`, ``format:`` in ``experiment.yaml``).
    aliases
        Other accepted spellings of the name.
    can_open
        ``can_open(path)``: True when the file's content is of this format.
    read
        ``read(path, **options)`` -> :class:`~msclab.io.assay_export.AssayExport`.
    plate_reader
        Single-analyte plate reader: ``read`` takes ``analyte`` and ``reference``.
    """

    name: str
    aliases: tuple[str, ...]
    can_open: Callable[[Path], bool]
    read: Callable[..., AssayExport]
    plate_reader: bool = False

    def __repr__(self) -> str:
        return f"Reader({self.name!r}, aliases={self.aliases!r})"


def _stamp(path: Path) -> tuple[int, int]:
    """Modification time and size, so that the cached sniffs below see a changed file; (0, 0) if missing."""
    try:
        stat = path.stat()
    except OSError:
        return (0, 0)
    return (stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _text_lines(path: Path, stamp: tuple[int, int]) -> tuple[str, list[str]]:
    head = read_text(path, [])[:4000]
    return head, [line.strip().strip('"') for line in head.splitlines() if line.strip()]


def _head(path: Path) -> tuple[str, str, list[str]] | None:
    """``(head, first line, lines)`` of a text export; None for a workbook."""
    if path.suffix.lower() in _EXCEL:
        return None
    head, lines = _text_lines(path, _stamp(path))
    return head, (lines[0] if lines else ""), lines


@functools.lru_cache(maxsize=16)
def _excel_marker(path: Path, stamp: tuple[int, int]) -> str | None:
    """The first recognisable table of a workbook: ``tecan``, ``bioplex``, ``grid`` or None."""
    for _, rows in xlsx_sheets(path):
        for row in rows[:200]:
            cells = {str(c).strip() for c in row if c is not None}
            if "Well positions" in cells:
                return "tecan"
            if {"Type", "Well", "FI"} <= cells:
                return "bioplex"
            if grid_columns(row):
                return "grid"
    return None


def _workbook(path: Path) -> str | None:
    if path.suffix.lower() not in _EXCEL:
        return None
    return _excel_marker(path, _stamp(path))


def _is_softmax(path: Path) -> bool:
    text = _head(path)
    return text is not None and text[1].startswith("##BLOCKS")


def _is_xponent(path: Path) -> bool:
    text = _head(path)
    return text is not None and text[1].startswith("Program") and "xPONENT" in text[1]


def _is_gen5(path: Path) -> bool:
    text = _head(path)
    return text is not None and "Software Version" in text[0] and ("Plate Number" in text[0] or "Results" in text[0])


def _is_bmg(path: Path) -> bool:
    text = _head(path)
    return text is not None and ("Raw Data (" in text[0] or ("User:" in text[1] and "Test run no." in text[1]))


def _is_tecan(path: Path) -> bool:
    return _workbook(path) == "tecan"


def _is_bioplex(path: Path) -> bool:
    return _workbook(path) == "bioplex"


def _is_grid(path: Path) -> bool:
    text = _head(path)
    if text is None:
        return _workbook(path) == "grid"
    return any(grid_columns(line.replace(";", ",").replace("\t", ",").split(",")) for line in text[2])


#: Every supported format, in the order :func:`detect_format` tries them.
READERS: tuple[Reader, ...] = (
    Reader("softmax_pro", ("softmax", "softmaxpro"), _is_softmax, read_softmax, plate_reader=True),
    Reader("xponent", ("luminex",), _is_xponent, read_xponent),
    Reader("gen5", (), _is_gen5, read_gen5, plate_reader=True),
    Reader("bmg_mars", ("bmg", "mars"), _is_bmg, read_bmg, plate_reader=True),
    Reader("tecan_magellan", ("tecan", "magellan"), _is_tecan, read_tecan, plate_reader=True),
    Reader("bioplex", ("bio-plex",), _is_bioplex, read_bioplex),
    Reader("grid", ("plate_grid",), _is_grid, read_grid, plate_reader=True),
)


def reader(name: str, *, path: Path | None = None) -> Reader:
    """Return the :class:`Reader` named ``name`` (or one of its aliases, case-insensitive).

    Raises
    ------
    AssayFileError
        When no reader has that name; the hint lists the names.
    """
    key = name.strip().lower()
    for entry in READERS:
        if key == entry.name or key in entry.aliases:
            return entry
    raise AssayFileError(f"unknown format {name!r}", file=path,
                         hint=f"Use 'auto' or one of: {', '.join(e.name for e in READERS)}.")


def read_assay(
    path: str | Path,
    format: str = "auto",
    layout: str | Path | PlateLayout | None = None,
    *,
    analyte: str | None = None,
    analytes: Sequence[str] | None = None,
    reference: float | str | None = "auto",
    check_series: bool = True,
) -> AssayExport:
    """Read any supported cytokine-assay export.

    Parameters
    ----------
    path
        The export file.
    format
        ``"auto"`` (recognise it) or the name or alias of one of :data:`READERS`.
    layout
        A plate-layout file or :class:`~msclab.io.layout.PlateLayout` to apply;
        then every plate must have standards (see
        :func:`~msclab.io.layout.check_standards`).
    analyte
        Analyte name for single-analyte plate-reader files.
    analytes
        Keep only these analytes (multiplex); unknown names are an error.
    reference
        Reference-wavelength policy of the plate readers (``"auto"``, nm, None).
    check_series
        With a layout, require a constant dilution ratio between standards.

    Returns
    -------
    AssayExport

    Raises
    ------
    AssayFileError
        Unknown or unrecognised format, and every problem the reader or the
        layout finds.
    """
    path = Path(path)
    entry = reader(detect_format(path) if format == "auto" else format, path=path)
    options: dict[str, object] = {"analyte": analyte, "reference": reference} if entry.plate_reader else {}
    export = entry.read(path, **options)
    if analytes is not None:
        check_analytes(export, analytes)
        export.table = export.table[export.table["analyte"].isin(list(analytes))].reset_index(drop=True)
    if layout is not None:
        plate_layout = layout if isinstance(layout, PlateLayout) else read_layout(layout)
        export = apply_layout(export, plate_layout, check_series=check_series)
    return export


def resolve_format(path: Path, format: str = "auto") -> str:
    """The reader name for ``format`` (an alias such as ``magellan`` included), or the sniffed one for ``auto``.

    Raises
    ------
    AssayFileError
        An unknown format name, or an ``auto`` file that matches no format.
    """
    return detect_format(path) if format == "auto" else reader(format, path=path).name


def detect_format(path: Path) -> str:
    """Recognise an export's format from its content: the name of the first :data:`READERS` entry that can open it.

    Raises
    ------
    AssayFileError
        Missing or empty file, old ``.xls`` workbook, or content matching no known format.
    """
    path = Path(path)
    if path.suffix.lower() == ".xls":
        raise AssayFileError("old Excel (.xls) workbooks are not read", file=path,
                             hint="Open the file in Excel and save it as .xlsx.")
    for entry in READERS:
        if entry.can_open(path):
            return entry.name
    if path.suffix.lower() in _EXCEL:
        raise AssayFileError(
            "unknown format: no sheet holds a Bio-Plex table, a Magellan well list or a plate grid",
            file=path, hint="Pass format=... or export the data again.")
    raise AssayFileError(
        "unknown format: the file matches no supported export", file=path, where="line 1",
        hint="Supported: Gen5 text, SoftMax Pro text, Tecan Magellan xlsx, BMG MARS csv, "
        "xPONENT csv, Bio-Plex xlsx and plate grids (docs/assay_readers.md). "
        "Pass format=... if the file is one of these.")
