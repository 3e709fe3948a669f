"""Normalisation: treated samples against matched controls, plates and batches against bridges.

- :mod:`~msclab.normalise.controls`: paired, within-donor effects per sample;
- :mod:`~msclab.normalise.censoring`: how ``<LLOQ``/``>ULOQ`` values enter;
- :mod:`~msclab.normalise.plates`: inter-plate calibration of concentrations with bridge samples;
- flow batch normalisation (per-channel quantiles of bridge samples, before gating) lives with the
  events it moves, in :mod:`msclab.flow.batch_normalisation`, and is re-exported here.
"""

from ..flow.batch_normalisation import QuantileMap, fit_quantile_map, normalise_events
from .plates import PlateCalibration, calibrate_plates

__all__ = ["PlateCalibration", "QuantileMap", "calibrate_plates", "fit_quantile_map", "normalise_events"]
