"""Normalisation: treated samples against matched controls, plates and batches against bridges.

- :mod:`~msclab.normalise.controls`: paired, within-donor effects per sample;
- :mod:`~msclab.normalise.censoring`: how ``<LLOQ``/``>ULOQ`` values enter;
- :mod:`~msclab.normalise.plates`: inter-plate calibration of concentrations with bridge samples;
- flow batch normalisation (per-channel quantiles of bridge samples, before gating) lives with the
  events it moves, in :mod:`msclab.flow.batch_normalisation`, and is re-exported here.

Names are imported on first use.
"""

from __future__ import annotations

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "QuantileMap": "msclab.flow.batch_normalisation",
        "fit_quantile_map": "msclab.flow.batch_normalisation",
        "normalise_events": "msclab.flow.batch_normalisation",
        "PlateCalibration": ".plates",
        "calibrate_plates": ".plates",
    },
    ("censoring", "controls", "plates"),
)
