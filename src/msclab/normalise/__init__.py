"""Normalisation: treated samples against matched controls, plates and batches against bridges.

- :mod:`~msclab.normalise.controls`: paired, within-donor effects per sample;
- :mod:`~msclab.normalise.censoring`: how ``<LLOQ``/``>ULOQ`` values enter;
- :mod:`~msclab.normalise.plates`: inter-plate calibration of concentrations with bridge samples;
- :mod:`~msclab.normalise.batch`: per-channel quantile normalisation of flow intensities to a reference batch.
"""

from .batch import QuantileMap, fit_quantile_map
from .plates import PlateCalibration, calibrate_plates

__all__ = ["PlateCalibration", "QuantileMap", "calibrate_plates", "fit_quantile_map"]
