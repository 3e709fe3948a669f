"""Normalisation: treated samples against matched controls, plates and batches against bridges.

- :mod:`~msclab.normalise.controls`: paired, within-donor effects per sample;
- :mod:`~msclab.normalise.censoring`: how ``<LLOQ``/``>ULOQ`` values enter;
- :mod:`~msclab.normalise.plates`: inter-plate calibration of concentrations with bridge samples;
- :mod:`~msclab.normalise.batch`: per-channel quantile normalisation of flow intensities to a reference batch.

Names are imported on first use.
"""

from __future__ import annotations

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "QuantileMap": ".batch",
        "fit_quantile_map": ".batch",
        "PlateCalibration": ".plates",
        "calibrate_plates": ".plates",
    },
    ("batch", "censoring", "controls", "plates"),
)
