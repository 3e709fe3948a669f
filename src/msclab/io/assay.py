"""One entry point for every cytokine-assay export: :func:`read_assay`.

It recognises the format from the file's own signature (not its name), calls
the matching reader, and applies a plate layout when given one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from msclab.errors import AssayFileError
from msclab.io.assay_export import AssayExport
from msclab.io.bioplex import read_bioplex
from msclab.io.layout import PlateLayout, apply_layout, check_analytes, read_layout
from msclab.io.luminex import read_xponent
from msclab.io.plate_reader import read_bmg, read_gen5, read_grid, read_softmax, read_tecan
from msclab.io.plate_reader._text import read_text
from msclab.io.plate_reader.grid import grid_columns, xlsx_sheets

#: Format name -> reader. Plate readers take ``analyte`` and ``reference``.
READERS: dict[str, Callable[..., AssayExport]] = {
    "grid": read_grid,
    "gen5": read_gen5,
    "softmax_pro": read_softmax,
    "tecan_magellan": read_tecan,
    "bmg_mars": read_bmg,
    "xponent": read_xponent,
    "bioplex": read_bioplex,
}
PLATE_READER_FORMATS = ("grid", "gen5", "softmax_pro", "tecan_magellan", "bmg_mars")
#: Other names of the formats (as docs and instrument software write them) -> reader name.
FORMAT_ALIASES: dict[str, str] = {
    "magellan": "tecan_magellan", "tecan": "tecan_magellan", "softmax": "softmax_pro", "softmaxpro": "softmax_pro",
    "bmg": "bmg_mars", "mars": "bmg_mars", "luminex": "xponent", "bio-plex": "bioplex", "plate_grid": "grid",
}
_EXCEL = (".xlsx", ".xlsm")


def read_assay(
    path: str | Path,
    format: str = "auto",
    layout: str | Path | PlateLayout | None = None,
    *,
    analyte: str | None = None,
    analytes: Sequence[str] | None = None,
    reference: float | str | None = "auto",
    check_series: bool = True,
    beads: str | Path | None = None,
) -> AssayExport:
    """Read any supported cytokine-assay export.

    Parameters
    ----------
    path
        The export file.
    format
        ``"auto"`` (recognise it) or one of :data:`READERS`.
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
    beads
        A bead-array panel YAML (LEGENDplex/CBA): ``path`` is then a folder
        of FCS files, one per well, read by :func:`msclab.flow.beads.read_bead_plate`.

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
    if beads is not None or format == "beads":
        from ..flow.beads import read_bead_plate

        if beads is None:
            raise AssayFileError("a bead-array plate needs its panel", file=path,
                                 hint="Give the panel YAML (--beads, or 'beads:' in experiment.yaml).")
        export = read_bead_plate(path, beads)
        if layout is not None:
            plate_layout = layout if isinstance(layout, PlateLayout) else read_layout(layout)
            export = apply_layout(export, plate_layout, check_series=check_series, require_standards=False)
        return export
    name = resolve_format(path, format)
    options: dict[str, object] = {}
    if name in PLATE_READER_FORMATS:
        options = {"analyte": analyte, "reference": reference}
    export = READERS[name](path, **options)
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
    name = detect_format(path) if format == "auto" else FORMAT_ALIASES.get(format.lower(), format.lower())
    if name not in READERS:
        raise AssayFileError(f"unknown format {format!r}", file=path,
                             hint=f"Use 'auto' or one of: {', '.join([*READERS, *FORMAT_ALIASES])}.")
    return name


def detect_format(path: Path) -> str:
    """Recognise an export's format from its content.

    Raises
    ------
    AssayFileError
        Missing or empty file, or content matching no known format.
    """
    if path.suffix.lower() == ".xls":
        raise AssayFileError("old Excel (.xls) workbooks are not read", file=path,
                             hint="Open the file in Excel and save it as .xlsx.")
    if path.suffix.lower() in _EXCEL:
        return _detect_excel(path)
    text = read_text(path, [])
    head = text[:4000]
    lines = [line.strip().strip('"') for line in head.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if first.startswith("##BLOCKS"):
        return "softmax_pro"
    if first.startswith("Program") and "xPONENT" in first:
        return "xponent"
    if "Software Version" in head and ("Plate Number" in head or "Results" in head):
        return "gen5"
    if "Raw Data (" in head or ("User:" in first and "Test run no." in first):
        return "bmg_mars"
    if any(grid_columns(line.replace(";", ",").replace("\t", ",").split(",")) for line in lines):
        return "grid"
    raise AssayFileError(
        "unknown format: the file matches no supported export", file=path, where="line 1",
        hint="Supported: Gen5 text, SoftMax Pro text, Tecan Magellan xlsx, BMG MARS csv, "
        "xPONENT csv, Bio-Plex xlsx and plate grids (docs/assay_readers.md). "
        "Pass format=... if the file is one of these.")


def _detect_excel(path: Path) -> str:
    sheets = xlsx_sheets(path)
    for _, rows in sheets:
        for row in rows[:200]:
            cells = {str(c).strip() for c in row if c is not None}
            if "Well positions" in cells:
                return "tecan_magellan"
            if {"Type", "Well", "FI"} <= cells:
                return "bioplex"
            if grid_columns(row):
                return "grid"
    raise AssayFileError(
        "unknown format: no sheet holds a Bio-Plex table, a Magellan well list or a plate grid",
        file=path, hint="Pass format=... or export the data again.")
