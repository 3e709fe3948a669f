"""Synthetic paired studies with known truth for the statistics tests (as fixtures)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from msclab.readouts import build_readouts
from msclab.experiment.contrasts import Contrast

SAMPLE_DEFAULTS = dict(
    stimulus="PHA", culture="contact", msc_source="", msc_licensing="", timepoint="72h",
    replicate=1, plate="P1", well="", control_type="", status="ok",
)


def sample(sample_id: str, donor: str, condition: str, ratio: str = "", **extra) -> dict:
    """One samplesheet row with the readouts obs columns."""
    return {**SAMPLE_DEFAULTS, "sample_id": sample_id, "donor": donor, "condition": condition,
            "msc_ratio": ratio, **extra}


def _lognormal_study(deltas: np.ndarray, *, n_donors: int = 8, sigma: float = 0.3, seed: int = 0):
    """Concentrations with log2(treated/control) ~ N(delta, 2 sigma^2) per donor; donor baselines vary."""
    rng = np.random.default_rng(seed)
    samples, records = [], []
    for d in range(n_donors):
        donor = f"D{d + 1}"
        base = rng.normal(10, 1.0, size=deltas.size)
        for condition, ratio, shift in (("PBMC", "", 0.0), ("PBMC+MSC", "1:10", 1.0)):
            sid = f"{donor}-{condition}"
            samples.append(sample(sid, donor, condition, ratio, msc_source="BM" if ratio else ""))
            log2v = base + shift * deltas + rng.normal(0, sigma, size=deltas.size)
            for j, v in enumerate(log2v):
                records.append(dict(sample_id=sid, readout=f"assay:A{j}:concentration", value=2.0 ** v,
                                    kind="concentration", unit="pg/mL"))
    return build_readouts(pd.DataFrame(samples), pd.DataFrame(records))


@pytest.fixture
def lognormal_study():
    """Factory of lognormal concentration studies with planted log2 fold changes."""
    return _lognormal_study


@pytest.fixture
def sample_row():
    """Factory of samplesheet rows."""
    return sample


@pytest.fixture
def contrast() -> Contrast:
    """MSC co-culture vs PBMC alone, paired by donor."""
    return Contrast(name="MSC 1:10", treatment={"condition": "PBMC+MSC"}, control={"condition": "PBMC"})
