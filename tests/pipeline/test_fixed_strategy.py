"""A panel gated by a GatingML 2.0 file runs through analyze with the file's exact gates."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from msclab.pipeline import Settings, analyze


@pytest.mark.shared_data
def test_gatingml_panel_counts_equal_the_compliance_truth(shared_data, tmp_path):
    compliance = shared_data / "gatingml2_compliance"
    shutil.copy(compliance / "data1.fcs", tmp_path / "data1.fcs")
    shutil.copy(compliance / "gml" / "gml_rect1_gate.xml", tmp_path / "rect.xml")
    pd.DataFrame([{"sample_id": "s1", "file": "data1.fcs", "panel": "p", "donor": "D1", "condition": "PBMC"}]).to_csv(
        tmp_path / "samplesheet.csv", index=False)
    manifest = {"name": "GatingML panel", "samplesheet": "samplesheet.csv",
                "panels": {"p": {"markers": {"FL1-H": "FITC"}, "protocol": "rect.xml"}}}
    (tmp_path / "experiment.yaml").write_text(yaml.safe_dump(manifest))
    result = analyze(tmp_path / "experiment.yaml", tmp_path / "out", Settings(plots=False, n_boot=100))
    truth = np.loadtxt(compliance / "truth" / "Results_Rectangle1.txt", dtype=int)
    expected = 100.0 * truth.sum() / truth.size
    value = result.readouts[:, "flow:p:/Rectangle1:pct_parent"].X[0, 0]
    assert value == pytest.approx(expected, abs=1e-9)
    assert result.failures.empty
