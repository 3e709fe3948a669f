"""Cytokine-assay quantification: standard curves, ICH M10 quality, concentrations with flags.

- :func:`read_assay`: any export, bead-array plates included;
- :func:`fit_curve`: a 4PL/5PL fit of standards (:class:`CurveFit`);
- :func:`quantify`: every plate x analyte of an export (:class:`AssayResult`);
- :mod:`~msclab.assay.curves`, :mod:`~msclab.assay.qc`, :mod:`~msclab.assay.quantification`,
  :mod:`~msclab.assay.plots`: the parts.

Names are imported on first use.
"""

from __future__ import annotations

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "read_assay": ".read",
        "fit_curve": ".curves",
        "CurveFit": ".curves",
        "Calibration": ".qc",
        "quantify": ".quantification",
        "AssayResult": ".quantification",
    },
    ("curves", "plots", "qc", "quantification", "read"),
)
