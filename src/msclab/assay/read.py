"""Read any cytokine-assay export, bead-array plates included: :func:`read_assay`.

Plate-reader and multiplex exports are read by :func:`msclab.io.read_assay`
(the table of readers in :mod:`msclab.io.assay`). A bead-array plate
(LEGENDplex/CBA) is a folder of FCS files read on a cytometer: its beads are
gated and their signals tabulated by :func:`msclab.flow.beads.read_bead_plate`,
so it sits one layer above ``io``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import AssayFileError
from ..io import assay as _io
from ..io.assay_export import AssayExport
from ..io.layout import PlateLayout, apply_layout, read_layout


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
    """Read an assay export as :func:`msclab.io.read_assay` does, or a bead-array plate.

    Parameters
    ----------
    path, format, layout, analyte, analytes, reference, check_series
        As in :func:`msclab.io.read_assay`; ``format="beads"`` needs ``beads``.
    beads
        A bead-array panel YAML (LEGENDplex/CBA): ``path`` is then a folder
        of FCS files, one per well. A layout is applied without requiring
        standards on every plate.

    Returns
    -------
    AssayExport

    Raises
    ------
    AssayFileError
        ``format="beads"`` without a panel, and every problem the reader or the layout finds.
    """
    path = Path(path)
    if beads is None and format != "beads":
        return _io.read_assay(path, format, layout, analyte=analyte, analytes=analytes, reference=reference,
                              check_series=check_series)
    if beads is None:
        raise AssayFileError("a bead-array plate needs its panel", file=path,
                             hint="Give the panel YAML (--beads, or 'beads:' in experiment.yaml).")
    from ..flow.beads import read_bead_plate

    export = read_bead_plate(path, beads)
    if layout is not None:
        plate_layout = layout if isinstance(layout, PlateLayout) else read_layout(layout)
        export = apply_layout(export, plate_layout, check_series=check_series, require_standards=False)
    return export
