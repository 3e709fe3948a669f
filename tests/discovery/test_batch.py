"""``msclab batch`` runs the ``discovery:`` sections of experiment.yaml exactly as ``analyze`` does."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from msclab.batch import run_batch
from msclab.pipeline import analyze
from msclab.settings import Settings
from msclab.simulate.study import StudyDesign, simulate_study

pytestmark = pytest.mark.slow


def test_batch_discovers_what_analyze_discovers(tmp_path):
    root = tmp_path / "study"
    simulate_study(root, StudyDesign(donors=3, events=3000, seed=5))
    manifest = yaml.safe_load((root / "experiment.yaml").read_text())
    manifest["panels"]["th_ics"]["discovery"] = {"events_per_sample": 2000}
    (root / "experiment.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    settings = Settings(plots=False, n_boot=100)

    analyze(root / "experiment.yaml", tmp_path / "analyze", settings)
    result = run_batch([root], tmp_path / "batch", settings=settings, workers=0)
    assert result.ok
    for name in ("clusters.csv", "abundance.csv", "differential.csv"):
        one = pd.read_csv(tmp_path / "analyze" / "discovery" / "th_ics" / name)
        other = pd.read_csv(tmp_path / "batch" / "study" / "discovery" / "th_ics" / name)
        assert len(one) > 0
        pd.testing.assert_frame_equal(one, other)
    assert not (tmp_path / "batch" / "study" / "discovery" / "treg").exists()  # no section, no --discovery
