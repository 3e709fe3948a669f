"""``--from``: sizes and variances estimated from an analysis folder with planted values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from msclab.errors import MsclabError
from msclab.plan.simulator import technical_sd
from msclab.plan.calibration import from_analysis
from msclab.plan.sources import default_models


def _write_analysis(folder, rng):
    folder.mkdir()
    pd.DataFrame({
        "readout": ["IFN-g", "IFN-g", "th_ics/Th17"], "contrast": ["msc_1to10", "msc_1to50", "msc_1to10"],
        "estimate": [-1.2, -0.6, -0.5], "ci_low": [0, 0, 0], "ci_high": [0, 0, 0], "p_value": 0.01,
        "q_value": 0.01, "n_donors": 6, "unit": "", "scale": ["log2_fc", "log2_fc", "log2_ratio"],
        "catalogue_id": ["ifng", "ifng", "th17_frequency"], "sd_donors": [0.5, 0.25, 0.8],
        "msc_ratio": ["1:10", "1:50", "1:10"],
    }).to_csv(folder / "effects.csv", index=False)
    pops = []
    for s in range(6):
        pops += [{"sample_id": f"S{s}", "population": "root", "parent": "", "count": 10000},
                 {"sample_id": f"S{s}", "population": "root/Lymph/T/CD4", "parent": "root/Lymph/T", "count": 3000},
                 {"sample_id": f"S{s}", "population": "root/Lymph/T/CD8", "parent": "root/Lymph/T", "count": 1500}]
    pd.DataFrame(pops).to_csv(folder / "populations.csv", index=False)
    # duplicate wells with a planted 12% CV; 3 of 12 samples below LLOQ
    rows = []
    for s in range(12):
        conc = 500 * np.exp(0.12 * rng.standard_normal(2)) if s >= 3 else [10.0, 10.0]
        flag = "ok" if s >= 3 else "<LLOQ"
        rows += [{"plate": "p", "well": f"A{s}{k}", "sample_id": f"S{s}", "sample_type": "unknown", "analyte": "IFN-g",
                  "signal": 1, "concentration": c, "unit": "pg/mL", "flag": flag} for k, c in enumerate(conc)]
    pd.DataFrame(rows).to_csv(folder / "concentrations.csv", index=False)


def test_from_analysis_recovers_planted_values(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "analysis"
    _write_analysis(folder, rng)
    models, notes = from_analysis(folder)
    ifng, th17 = models["ifng"], models["th17_frequency"]
    assert ifng.size == pytest.approx(-1.2)  # -1.2 at 1:10 and -0.6 / 0.5 at 1:50
    assert th17.size == pytest.approx(-0.5)
    assert models["th17_frequency"].parent_share == pytest.approx(0.3)
    assert models["t_prolif_cd8"].parent_share == pytest.approx(0.15)
    assert ifng.assay_cv == pytest.approx(0.12, abs=0.05)
    # 25% below LLOQ: the LLOQ sits at the control distribution's 25th percentile
    d = default_models()["ifng"]
    assert ifng.lloq == pytest.approx(d.baseline * math.exp(d.baseline_sd * -0.6745), rel=1e-3)
    # biological SD = sqrt(observed^2 - technical^2), the technical part at 10,000 events
    tech = technical_sd(th17, 1.0, 10000)
    assert th17.donor_sd == pytest.approx(math.sqrt(0.8**2 - tech**2), rel=1e-6)
    assert 0 < tech < 0.8
    assert any("events per tube" in n for n in notes)
    assert "effects.csv" in ifng.source and "concentrations.csv" in ifng.source
    assert models["il10"] == default_models()["il10"]  # nothing measured: default kept


def test_from_analysis_without_effects_is_an_error(tmp_path):
    with pytest.raises(MsclabError, match="effects.csv"):
        from_analysis(tmp_path)


def test_default_models_cite_sources():
    for m in default_models().values():
        assert "msc_catalogue.md §4" in m.source
