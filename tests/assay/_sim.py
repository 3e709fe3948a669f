"""Simulated plates with known truth for the assay tests and the benchmark."""

from __future__ import annotations

import numpy as np
import pandas as pd

from msclab.assay.curves import logistic

#: (A, B, ln C, D, F): a rising sandwich-ELISA-like curve in MFI units.
RISING = np.array([20.0, 20000.0, np.log(2000.0), 1.1, 1.0])
#: A falling (competitive) curve in OD units.
FALLING = np.array([2.5, 0.08, np.log(150.0), 1.0, 1.0])

ROWS = "ABCDEFGH"


def simulate_plate(
    rng: np.random.Generator,
    params: np.ndarray = RISING,
    *,
    plate: str = "P1",
    analyte: str = "IL6",
    top: float = 10000.0,
    n_levels: int = 8,
    fold: float = 3.0,
    cv: float = 0.05,
    n_samples: int = 30,
    sample_range: tuple[float, float] = (1.0, 30000.0),
) -> pd.DataFrame:
    """One plate x analyte: duplicate standards, 2 blanks, duplicate unknowns.

    Signals are the curve plus multiplicative Gaussian noise of ``cv``. The
    unknowns' true in-well concentrations are log-uniform over
    ``sample_range`` and stored in ``true_concentration``.
    """
    wells = (f"{r}{c}" for c in range(1, 13) for r in ROWS)
    nominal = top / fold ** np.arange(n_levels)
    rows = []
    for k, conc in enumerate(nominal):
        for _ in range(2):
            rows.append(("standard", f"S{k + 1}", f"S{k + 1}", conc, conc))
    for _ in range(2):
        rows.append(("blank", "B", "", np.nan, 0.0))
    truth = np.exp(rng.uniform(*np.log(sample_range), n_samples))
    for i, conc in enumerate(truth):
        for _ in range(2):
            rows.append(("unknown", f"U{i + 1}", "", np.nan, conc))
    table = pd.DataFrame(rows, columns=["sample_type", "sample_id", "level", "expected_concentration", "true_concentration"])
    with np.errstate(divide="ignore"):
        clean = logistic(np.log(table["true_concentration"].to_numpy()), params)
    table["signal"] = clean * (1.0 + cv * rng.standard_normal(len(table)))
    table.insert(0, "well", [next(wells) for _ in range(len(table))])
    table.insert(0, "analyte", analyte)
    table.insert(0, "plate", plate)
    table["dilution"] = 1.0
    return table
