"""The fast path's ELISA read against msclab's own plate simulation and quantification."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from msclab.assay.quantification import quantify
from msclab.plan.simulator import _lognormal_reader, _plate_reader
from msclab.plan.sources import default_models
from msclab.simulate.elisa import KITS, simulate_plates

N = 160  # samples: 4 plates


def _pipeline_error(analyte: str, true: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """log2(measured / true) after simulated plates, curve fit, back-calculation and the default censoring."""
    conc = {f"s{i}": float(v) for i, v in enumerate(true)}
    layout, reads = simulate_plates(KITS[analyte], conc, rng, prefix="p")
    wells = [f"{r}{c}" for r in "ABCDEFGH" for c in range(1, 13)]
    net = {(pid, w): v for pid, rd in reads.items() for w, v in zip(wells, (rd["450"] - rd["570"]).ravel())}
    table = layout.drop(columns=["true_concentration"]).assign(
        analyte=analyte, signal=[net[(p, w)] for p, w in zip(layout["plate"], layout["well"])])
    rec = quantify(table, n_jobs=1).readout_records().set_index("sample_id").loc[list(conc)]
    value = rec["value"].to_numpy(dtype=float)
    value = np.where(rec["flag"] == "<LLOQ", rec["lloq"] / math.sqrt(2), value)
    value = np.where(rec["flag"] == ">ULOQ", rec["uloq"], value)
    return np.log2(value / true)


@pytest.mark.parametrize(("analyte", "eid"), [("IL-17A", "il17a"), ("IFN-g", "ifng")])
def test_plate_reader_matches_quantified_plates(analyte, eid):
    rng = np.random.default_rng(3)
    model = default_models()[eid]
    # controls and treated samples around the stimulated median, reaching above the top standard
    true = model.baseline * np.exp(0.6 * rng.standard_normal(N))
    pipeline = _pipeline_error(analyte, true, rng)
    grid = np.broadcast_to(true, (200, N))
    fast = np.log2(_plate_reader(model, (200, N), rng)(grid) / grid)
    constant = np.log2(_lognormal_reader(replace(model, assay_cv=0.08, uloq=math.inf), (200, N), rng)(grid) / grid)
    edges = np.quantile(true, [0, 0.25, 0.5, 0.75, 0.9, 1])
    misses = 0
    for lo, hi in zip(edges[:-1], edges[1:]):
        band = (true >= lo) & (true <= hi)
        ref_mean, ref_sd = pipeline[band].mean(), pipeline[band].std()
        # SD of 16-40 samples: ~15% relative error; the curve fit adds a small plate-level bias
        assert abs(fast[:, band].mean() - ref_mean) < 0.05 + 0.2 * ref_sd, (lo, hi)
        assert abs(fast[:, band].std() - ref_sd) < 0.35 * ref_sd + 0.01, (lo, hi)
        misses += abs(constant[:, band].std() - ref_sd) >= 0.35 * ref_sd + 0.01
    # a constant 8% CV without the ULOQ misses the flat top of the curve
    assert misses >= 1
