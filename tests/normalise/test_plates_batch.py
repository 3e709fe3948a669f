"""Plate calibration with bridge samples and flow batch normalisation recover planted shifts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from msclab.errors import MsclabError
from msclab.normalise import calibrate_plates, fit_quantile_map


def _plates(rng, factors):
    rows, truth = [], {}
    for plate, factor in factors.items():
        for s in range(12):
            sample = f"S{plate}_{s}"
            true = float(rng.lognormal(6, 1))
            truth[sample] = true
            rows.append((plate, "IFN-g", sample, true * factor * rng.lognormal(0, 0.02), "ok"))
        for b, level in (("bridge_lo", 150.0), ("bridge_hi", 1500.0)):
            for _ in range(2):
                rows.append((plate, "IFN-g", b, level * factor * rng.lognormal(0, 0.02), "ok"))
    return pd.DataFrame(rows, columns=["plate", "analyte", "sample_id", "concentration", "flag"]), truth


def test_planted_plate_biases_are_recovered_and_removed():
    rng = np.random.default_rng(0)
    planted = {"P1": 1.0, "P2": 1.6, "P3": 0.55}
    wells, truth = _plates(rng, planted)
    cal = calibrate_plates(wells, ["bridge_lo", "bridge_hi"], reference_plate="P1")
    factors = cal.factors.set_index("plate")["factor"]
    for plate, factor in planted.items():
        assert factors[plate] == pytest.approx(factor, rel=0.03)
    samples = cal.wells[cal.wells["sample_id"].isin(truth)]
    rel = (samples["concentration"] / samples["sample_id"].map(truth) - 1).abs()
    assert rel.median() < 0.03
    assert (samples["concentration_raw"] != samples["concentration"]).any()


def test_a_plate_without_bridge_is_an_error():
    rng = np.random.default_rng(1)
    wells, _ = _plates(rng, {"P1": 1.0, "P2": 1.2})
    wells = wells[~((wells["plate"] == "P2") & wells["sample_id"].str.startswith("bridge"))]
    with pytest.raises(MsclabError, match="no in-range bridge"):
        calibrate_plates(wells, ["bridge_lo", "bridge_hi"])


def test_quantile_map_undoes_a_planted_monotone_distortion():
    rng = np.random.default_rng(2)
    reference_control = rng.normal([2.0, 3.0], [0.5, 0.8], size=(5000, 2))
    sample = rng.normal([2.5, 2.0], [0.6, 0.5], size=(3000, 2))

    def drift(x):  # the batch's instrument: a gain change on channel 0, an offset and compression on channel 1
        return np.column_stack([1.3 * x[:, 0] + 0.2, 0.7 * x[:, 1] - 0.4])

    batch_control = drift(rng.normal([2.0, 3.0], [0.5, 0.8], size=(5000, 2)))
    mapping = fit_quantile_map(batch_control, reference_control, ["A", "B"])
    corrected = mapping.transform(drift(sample))
    assert np.median(np.abs(corrected - sample)) < 0.05
    shifts = mapping.shift_summary()
    assert set(shifts) == {"A", "B"}


@pytest.mark.shared_data
def test_real_cytof_control_from_two_batches_is_brought_together(shared_data):
    """CytoNorm's control sample acquired in two batches: held-out events of batch 2 move onto batch 1."""
    from msclab.io import read_fcs

    one = read_fcs(shared_data / "fcs_real/cytonorm/Gates_PTLG021_Unstim_Control_1.fcs")
    two = read_fcs(shared_data / "fcs_real/cytonorm/Gates_PTLG021_Unstim_Control_2.fcs")
    channels = [c for c in one.var_names if one.var.loc[c, "pns"] and c in two.var_names][:20]
    a = np.arcsinh(np.asarray(one[:, channels].X, float) / 5.0)
    b = np.arcsinh(np.asarray(two[:, channels].X, float) / 5.0)
    fit_half, held_out = b[::2], b[1::2]
    mapping = fit_quantile_map(fit_half, a[::2], channels)
    corrected = mapping.transform(held_out)
    before = [stats.ks_2samp(held_out[:, j], a[1::2, j]).statistic for j in range(len(channels))]
    after = [stats.ks_2samp(corrected[:, j], a[1::2, j]).statistic for j in range(len(channels))]
    assert np.median(after) < np.median(before)
