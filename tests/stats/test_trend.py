"""Dose-response trend across MSC:PBMC ratios."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from msclab.errors import MsclabError
from msclab.readouts import build_readouts
from msclab.stats import Contrast, dose_trend, msc_fraction

RATIOS = ("1:2", "1:10", "1:50", "1:100")


def _dose_study(sample_row, slope: float, seed: int, n_donors: int = 8, n_readouts: int = 1):
    """log2FC = slope * log2(MSC fraction / 0.01) + donor noise: more MSCs, larger effect."""
    rng = np.random.default_rng(seed)
    samples, recs = [], []
    for d in range(n_donors):
        donor = f"D{d}"
        base = rng.normal(10, 1, size=n_readouts)
        samples.append(sample_row(f"{donor}-c", donor, "PBMC"))
        for j in range(n_readouts):
            recs.append(dict(sample_id=f"{donor}-c", readout=f"r{j}", value=2 ** base[j], kind="concentration", unit="pg/mL"))
        for r in RATIOS:
            sid = f"{donor}-{r}"
            samples.append(sample_row(sid, donor, "PBMC+MSC", r))
            log2fc = slope * np.log2(msc_fraction(r) / 0.01) + rng.normal(0, 0.3, size=n_readouts)
            for j in range(n_readouts):
                recs.append(dict(sample_id=sid, readout=f"r{j}", value=2 ** (base[j] + log2fc[j]),
                                 kind="concentration", unit="pg/mL"))
    return build_readouts(pd.DataFrame(samples), recs)


CONTRAST = Contrast(name="dose", treatment={"condition": "PBMC+MSC"}, control={"condition": "PBMC"})


def test_msc_fraction() -> None:
    assert msc_fraction("1:10") == 0.1
    assert msc_fraction(" 1 : 2.5 ") == 0.4
    with pytest.raises(MsclabError):
        msc_fraction("10%")


def test_planted_dose_response_is_detected(sample_row) -> None:
    row = dose_trend(_dose_study(sample_row, slope=-0.3, seed=1), CONTRAST).iloc[0]
    assert row["levels"] == "1:100;1:50;1:10;1:2"
    assert row["n_donors"] == 8 and row["page_n_donors"] == 8
    assert row["slope_ci_low"] < -0.3 < row["slope_ci_high"]
    assert row["p_slope"] < 1e-4 and row["p_page"] < 1e-3


def test_no_dose_response_is_rarely_significant(sample_row) -> None:
    rows = dose_trend(_dose_study(sample_row, slope=0.0, seed=3, n_readouts=40), CONTRAST)
    assert len(rows) == 40
    assert (rows["p_slope"] < 0.05).mean() <= 0.15
    assert (rows["p_page"] < 0.05).mean() <= 0.15


def test_trend_contrast_must_span_ratios(sample_row) -> None:
    fixed = Contrast(name="x", treatment={"condition": "PBMC+MSC", "msc_ratio": "1:10"}, control={"condition": "PBMC"})
    with pytest.raises(MsclabError, match="fixes"):
        dose_trend(_dose_study(sample_row, slope=0.0, seed=0), fixed)
