"""Across-plate calibration of cytokine concentrations with bridge samples.

A bridge (reference) sample is run on every plate. Its concentration on each
plate, against its value on the reference plate, measures that plate's
multiplicative bias per analyte; every sample on the plate is divided by it.
This is the usual inter-plate calibration of immunoassays (a reference
sample carried across runs; cf. ICH M10 §3.2.5 on run acceptance with QCs,
and the bridging-sample designs of multi-batch Luminex studies).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import MsclabError


@dataclass
class PlateCalibration:
    """The result of :func:`calibrate_plates`.

    Attributes
    ----------
    wells
        The input table with ``concentration_raw`` (as measured) and
        ``concentration`` (calibrated), plus ``plate_factor``.
    factors
        One row per plate x analyte: ``factor`` (plate / reference, geometric
        mean over bridge wells), ``n_bridge``, ``log2_factor``.
    reference_plate
        The plate the others are brought onto.
    """

    wells: pd.DataFrame
    factors: pd.DataFrame
    reference_plate: str


def calibrate_plates(wells: pd.DataFrame, bridge: str | list[str], reference_plate: str | None = None) -> PlateCalibration:
    """Divide each plate's concentrations by its bridge-sample bias, per analyte.

    Parameters
    ----------
    wells
        Concentrations with ``plate, analyte, sample_id, concentration`` and
        optionally ``flag`` (only ``ok`` bridge wells are used).
    bridge
        Sample id(s) of the bridge sample(s) run on every plate.
    reference_plate
        Plate whose scale is kept (default: the first plate in the table).

    Returns
    -------
    PlateCalibration

    Raises
    ------
    MsclabError
        When a plate has no usable bridge well for an analyte.
    """
    bridges = [bridge] if isinstance(bridge, str) else list(bridge)
    table = wells.copy()
    plates = list(dict.fromkeys(table["plate"].astype(str)))
    reference = reference_plate or plates[0]
    if reference not in plates:
        raise MsclabError(f"reference plate {reference!r} is not in the data", hint=f"Use one of {plates}.")
    usable = table["sample_id"].isin(bridges) & (table["concentration"] > 0)
    if "flag" in table:
        usable &= table["flag"] == "ok"
    bridge_wells = table[usable].assign(log_c=lambda t: np.log(t["concentration"].astype(float)))
    # Per bridge sample: its log concentration on each plate minus its log concentration on the reference plate.
    per_bridge = bridge_wells.groupby(["analyte", "sample_id", "plate"])["log_c"].mean().rename("log_c").reset_index()
    ref = per_bridge[per_bridge["plate"] == reference].set_index(["analyte", "sample_id"])["log_c"]
    per_bridge["offset"] = per_bridge["log_c"] - ref.reindex(pd.MultiIndex.from_frame(per_bridge[["analyte", "sample_id"]])).to_numpy()
    rows = []
    for analyte in table["analyte"].unique():
        for plate in plates:
            offsets = per_bridge[(per_bridge["analyte"] == analyte) & (per_bridge["plate"] == plate)]["offset"].dropna()
            if offsets.empty:
                raise MsclabError(
                    f"plate {plate!r} has no in-range bridge well of {bridges} for {analyte}",
                    hint="Run the bridge sample on every plate, or calibrate without it.")
            factor = float(np.exp(offsets.mean()))
            rows.append({"plate": plate, "analyte": analyte, "factor": factor, "log2_factor": float(np.log2(factor)),
                         "n_bridge": int(len(offsets))})
    factors = pd.DataFrame(rows)
    lookup = factors.set_index(["plate", "analyte"])["factor"]
    table["plate_factor"] = lookup.reindex(pd.MultiIndex.from_frame(table[["plate", "analyte"]].astype(str))).to_numpy()
    table["concentration_raw"] = table["concentration"]
    table["concentration"] = table["concentration"] / table["plate_factor"]
    for column in ("ci_low", "ci_high"):
        if column in table:
            table[column] = table[column] / table["plate_factor"]
    return PlateCalibration(table, factors, reference)
