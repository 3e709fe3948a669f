"""A bad file fails only its own sample."""

from __future__ import annotations

import shutil

import msclab
from msclab.flow.panel import quantify_panel


def test_truncated_file_fails_only_its_sample(sim_study, tmp_path):
    study = tmp_path / "study"
    shutil.copytree(sim_study, study, ignore=shutil.ignore_patterns("labels"))
    experiment = msclab.read_experiment(study / "experiment.yaml")
    bad = study / "fcs" / "D2_msc10_th_ics.fcs"
    bad.write_bytes(bad.read_bytes()[:5000])  # damaged after validation (msclab validate refuses it up front)
    result = quantify_panel(experiment, "th_ics")
    assert set(result.failures) == {"D2_msc10"}
    assert "D2_msc10_th_ics.fcs" in result.failures["D2_msc10"]
    assert result.populations["sample_id"].nunique() == 15
    assert not (result.records["sample_id"] == "D2_msc10").any()
