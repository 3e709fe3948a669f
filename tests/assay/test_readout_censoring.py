"""Out-of-range concentrations reach the statistics as censored values with their limits."""

from __future__ import annotations

import numpy as np
import pandas as pd

from msclab.assay.curves import logistic
from msclab.assay.quantification import quantify
from msclab.normalise.censoring import apply_censoring
from msclab.readouts import build_readouts


def test_below_and_above_range_samples_become_censored_records(sim):
    rng = np.random.default_rng(5)
    plate = sim.simulate_plate(rng, n_samples=0)
    extra = pd.DataFrame({
        "plate": "P1", "analyte": "IL6", "well": ["H11", "H12", "G11", "G12"],
        "sample_type": "unknown", "sample_id": ["low", "low", "high", "high"], "level": "",
        "expected_concentration": np.nan, "true_concentration": [0.5, 0.5, 60000.0, 60000.0],
        "dilution": [4.0, 4.0, 1.0, 1.0]})
    extra["signal"] = logistic(np.log(extra["true_concentration"].to_numpy()), sim.RISING) * (
        1 + 0.01 * rng.standard_normal(4))
    result = quantify(pd.concat([plate, extra], ignore_index=True), model="5pl")
    records = result.readout_records().set_index("sample_id")
    curve = result.curves.iloc[0]
    assert records.loc["low", "flag"] == "<LLOQ"
    assert records.loc["high", "flag"] == ">ULOQ"
    # The neat limits are the curve's limits times the sample's dilution (planted: 4 and 1).
    assert records.loc["low", "lloq"] == curve["lloq"] * 4.0
    assert records.loc["high", "uloq"] == curve["uloq"]
    # The censoring rule then substitutes LLOQ/sqrt(2) and ULOQ (never the extrapolated value).
    samples = pd.DataFrame({"sample_id": ["low", "high"]})
    adata = build_readouts(samples, records.reset_index())
    table = apply_censoring(adata)
    column = "assay:IL6:concentration"
    assert table.values.loc["low", column] == curve["lloq"] * 4.0 / np.sqrt(2)
    assert table.values.loc["high", column] == curve["uloq"]
    assert table.censored[column].all()
