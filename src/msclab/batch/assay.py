"""Per-plate assay quantification: read one export, fit its standard curves, quantify its wells.

The same steps as :func:`msclab.pipeline.run_assays` does per assay; what
spans plates (bridge-sample calibration, per-sample records) happens when the
experiment is assembled (:mod:`msclab.batch.assemble`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..assay.quantification import AssayResult, quantify
from ..errors import MsclabError
from ..experiment.model import Assay
from ..io.assay import read_assay


@dataclass
class PlateOutcome:
    """One assay export, quantified (or why not).

    Attributes
    ----------
    assay
        The assay id of ``experiment.yaml``.
    failure
        Why the export could not be read, or None.
    wells, curves, masks, settings
        As in :class:`~msclab.assay.quantification.AssayResult`.
    leniencies
        What the reader accepted.
    plots
        Curve plots written.
    """

    assay: str
    failure: str | None = None
    wells: pd.DataFrame = field(default_factory=pd.DataFrame)
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    masks: pd.DataFrame = field(default_factory=pd.DataFrame)
    settings: dict[str, Any] = field(default_factory=dict)
    leniencies: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)


def quantify_plate(root: Path, assay: Assay, *, curve_model: str, weighting: str,
                   plots_dir: Path | None) -> PlateOutcome:
    """Read, fit and quantify one assay export of an experiment.

    Parameters
    ----------
    root
        The experiment's folder (the assay's paths are relative to it).
    assay
        The assay entry of ``experiment.yaml``.
    curve_model, weighting
        Standard-curve model and weighting.
    plots_dir
        If given, curve plots are written to ``plots_dir/curves/<assay id>``.
    """
    from ..assay.plots import save_curve_plots

    layout = root / assay.layout if assay.layout else None
    try:
        export = read_assay(root / assay.file, assay.format, layout=layout, analyte=assay.analyte)
    except MsclabError as exc:
        return PlateOutcome(assay.id, failure=str(exc))
    result: AssayResult = quantify(export, model=curve_model, weighting=weighting, unit=assay.unit)
    plots = save_curve_plots(result, plots_dir / "curves" / assay.id) if plots_dir is not None else []
    return PlateOutcome(assay.id, wells=result.wells, curves=result.curves, masks=result.masks,
                        settings=result.settings, leniencies=[str(x) for x in export.leniencies],
                        plots=[str(p) for p in plots])
