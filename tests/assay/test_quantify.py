"""Quantification on simulated plates with known concentrations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from msclab._parallel import fork_context, n_processes
from msclab.assay import quantification as quantify_module
from msclab.assay.qc import STANDARD_COLUMNS, assess, calibrate, quantification_range
from msclab.assay.quantification import quantify
from msclab.readouts import FLAG_LEVELS, build_readouts

IN_RANGE = ["ok", "high_cv"]


@pytest.fixture(scope="module")
def rising(sim):
    rng = np.random.default_rng(2)
    table = pd.concat([sim.simulate_plate(rng, plate=f"P{p}", sample_range=(0.2, 1e5)) for p in range(3)])
    return table, quantify(table)


def test_in_range_concentrations_recover_truth(rising):
    _, result = rising
    wells = result.wells
    unknown = wells[(wells["sample_type"] == "unknown") & wells["flag"].isin(IN_RANGE)]
    rel = np.abs(unknown["concentration"] / unknown["true_concentration"] - 1)
    assert len(unknown) > 100
    assert rel.median() < 0.10  # measured 0.044
    assert result.curves["accepted"].all()


def test_every_truly_out_of_range_sample_is_flagged(rising):
    # "Truly" = more than 3-fold beyond LLOQ/ULOQ: the top plateau makes the
    # 5 % signal noise a > 2-fold concentration error just above the ULOQ.
    _, result = rising
    wells = result.wells
    unknown = wells[wells["sample_type"] == "unknown"]
    curves = result.curves.set_index("plate")
    lloq, uloq = unknown["plate"].map(curves["lloq"]), unknown["plate"].map(curves["uloq"])
    low = unknown["true_concentration"] < lloq / 3
    high = unknown["true_concentration"] > uloq * 3
    assert low.sum() > 5 and high.sum() > 5
    assert not unknown.loc[low | high, "flag"].isin(IN_RANGE).any()
    assert set(unknown.loc[low, "flag"]) <= {"<LLOQ", "extrapolated"}
    assert set(unknown.loc[high, "flag"]) <= {"saturated", ">ULOQ", "extrapolated"}
    assert (unknown.loc[low, "range"] == "<").all() and (unknown.loc[high, "range"] == ">").all()


def test_values_are_never_clamped_to_the_limits(rising):
    _, result = rising
    wells = result.wells
    below = wells[wells["range"] == "<"]
    curves = result.curves.set_index("plate")
    values = below["concentration_in_well"].dropna()
    assert len(values) and (values < below.loc[values.index, "plate"].map(curves["lloq"])).all()
    assert set(result.wells["flag"]) <= set(FLAG_LEVELS)


def test_confidence_intervals_cover_the_truth(rising):
    _, result = rising
    wells = result.wells
    inside = wells[(wells["sample_type"] == "unknown") & wells["flag"].isin(IN_RANGE)]
    covered = (inside["ci_low"] <= inside["true_concentration"]) & (inside["true_concentration"] <= inside["ci_high"])
    assert 0.85 <= covered.mean() <= 1.0  # nominal 95 %; measured 0.92


def test_falling_curve_quantifies(sim):
    rng = np.random.default_rng(5)
    table = sim.simulate_plate(rng, sim.FALLING, top=5000.0, sample_range=(1.0, 20000.0), cv=0.04)
    result = quantify(table, "4pl")
    curve = result.curves.iloc[0]
    assert curve["accepted"] and curve["direction"] == "falling"
    unknown = result.wells[(result.wells["sample_type"] == "unknown") & result.wells["flag"].isin(IN_RANGE)]
    assert np.median(np.abs(unknown["concentration"] / unknown["true_concentration"] - 1)) < 0.10


def test_dilution_multiplies_concentration_and_ci(sim):
    rng = np.random.default_rng(7)
    table = sim.simulate_plate(rng)
    neat = quantify(table).wells
    table["dilution"] = np.where(table["sample_type"] == "unknown", 10.0, 1.0)
    diluted = quantify(table).wells
    unk = diluted["sample_type"] == "unknown"
    for col in ("concentration", "ci_low", "ci_high"):
        assert np.allclose(diluted.loc[unk, col], 10 * neat.loc[unk, col], equal_nan=True)
    assert np.allclose(diluted.loc[unk, "concentration_in_well"], neat.loc[unk, "concentration_in_well"], equal_nan=True)


def test_garbage_plate_is_fit_failed_not_an_exception(sim):
    rng = np.random.default_rng(1)
    table = sim.simulate_plate(rng)
    table["signal"] = rng.lognormal(6, 0.4, len(table))
    result = quantify(table)
    assert not result.curves["accepted"].item()
    assert result.curves["reason"].item().startswith("fit failed")
    assert (result.wells["flag"] == "fit_failed").all()
    assert result.wells["concentration"].isna().all()


def test_outliers_and_hook_are_masked_and_recorded(sim):
    rng = np.random.default_rng(4)
    table = sim.simulate_plate(rng, cv=0.02)
    std = table.index[table["sample_type"] == "standard"]
    table.loc[std[6], "signal"] *= 3.0  # an outlier well of level S4
    top = table.index[(table["sample_type"] == "standard") & (table["level"] == "S1")]
    table.loc[top, "signal"] = table.loc[std[2:4], "signal"].mean() * 0.7  # hook: S1 below S2
    result = quantify(table)
    masks = result.masks
    assert set(masks.loc[masks["reason"] == "hook effect", "level"]) == {"S1"}
    assert table.loc[std[6], "well"] in set(masks["well"])
    curve = result.curves.iloc[0]
    assert curve["hook"] and "hook effect" in curve["warnings"] and curve["accepted"]
    flags = result.wells.set_index("well")["flag"]
    assert (flags[masks["well"]] == "masked").all()


def test_replicate_cv_flags_high_cv(sim):
    rng = np.random.default_rng(8)
    table = sim.simulate_plate(rng, cv=0.01)
    unk = table.index[(table["sample_type"] == "unknown")]
    table.loc[unk[::2], "signal"] *= 1.6  # first replicate of every unknown far off
    wells = quantify(table).wells
    hit = wells.loc[unk]
    assert (hit.loc[hit["replicate_cv"] > 20, "flag"].isin(["high_cv", "<LLOQ", ">ULOQ", "extrapolated", "saturated"])).all()
    assert (hit["flag"] == "high_cv").sum() > 10


def test_lod_from_blanks_is_below_lloq(rising):
    _, result = rising
    # NaN when blank mean + 3 SD lies below the fitted bottom asymptote.
    curves = result.curves.dropna(subset=["lod"])
    assert len(curves) and (curves["lod"] > 0).all() and (curves["lod"] < curves["lloq"]).all()


def test_dataset_and_readouts(rising):
    table, result = rising
    ds = result.to_dataset()
    assert ds["concentration"].dims == ("plate", "well", "analyte")
    assert set(ds.data_vars) >= {"signal", "concentration", "ci_low", "ci_high", "flag"}
    assert ds["flag"].attrs["flag_meanings"].split() == list(FLAG_LEVELS)
    records = result.readout_records()
    assert (records["readout"] == "assay:IL6:concentration").all()
    assert (records["kind"] == "concentration").all()
    samples = pd.DataFrame({"sample_id": sorted(records["sample_id"].unique())})
    adata = build_readouts(samples, records)
    assert adata.shape == (len(samples), 1)
    assert set(records["flag"]) <= set(FLAG_LEVELS)


def test_qc_functions_on_tables_agree_with_calibrate(sim):
    rng = np.random.default_rng(4)
    table = sim.simulate_plate(rng, cv=0.08)
    cal = calibrate(table[table["sample_type"] == "standard"])
    again = assess(cal.fit, cal.standards[[*STANDARD_COLUMNS, "masked"]])
    pd.testing.assert_frame_equal(again.standards, cal.standards)
    assert (again.lloq, again.uloq, again.accepted, again.fraction_passing, again.standard_range) == (
        cal.lloq, cal.uloq, cal.accepted, cal.fraction_passing, cal.standard_range)
    i, j = quantification_range(cal.standards)
    levels = np.unique(cal.standards["expected_concentration"])
    assert (levels[i], levels[j]) == (cal.lloq, cal.uloq)


def test_worker_processes_give_the_serial_results_in_order(sim):
    if fork_context() is None:
        pytest.skip("worker processes are only forked on Linux from a single-threaded process")
    rng = np.random.default_rng(9)
    table = pd.concat([sim.simulate_plate(rng, plate=f"P{p}", analyte=f"A{a}", cv=0.1)
                       for p in range(4) for a in range(4)], ignore_index=True)
    assert n_processes(2, 16, quantify_module.MIN_CURVES_PER_PROCESS) == 2
    serial, parallel = quantify(table, "4pl", n_jobs=1), quantify(table, "4pl", n_jobs=2)
    for name in ("wells", "curves", "masks"):
        pd.testing.assert_frame_equal(getattr(parallel, name), getattr(serial, name), check_exact=True)
    assert len(serial.masks) and list(parallel.calibrations) == list(serial.calibrations)
    for key, cal in serial.calibrations.items():
        assert np.array_equal(parallel.calibrations[key].fit.theta, cal.fit.theta)
        assert np.array_equal(parallel.calibrations[key].fit.covariance, cal.fit.covariance)


def test_process_count_follows_the_number_of_curves():
    per = quantify_module.MIN_CURVES_PER_PROCESS
    assert n_processes(None, per - 1, per) == 1
    assert n_processes(8, 3 * per, per) == 3
    assert n_processes(1, 1000, per) == 1
    with pytest.raises(ValueError, match="n_jobs"):
        n_processes(0, 1000, per)
