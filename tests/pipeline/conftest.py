"""One analysed simulated study shared by the pipeline tests."""

from __future__ import annotations

import pytest

from msclab.pipeline import Settings, analyze
from msclab.simulate import StudyDesign, simulate_study


@pytest.fixture(scope="session")
def analysed(tmp_path_factory: pytest.TempPathFactory):
    """A 5-donor study and its analysis: (study folder, truth, result, output folder)."""
    folder = tmp_path_factory.mktemp("pipeline_study")
    truth = simulate_study(folder, StudyDesign(donors=5, events=5000, seed=11))
    out = folder / "analysis"
    result = analyze(folder / "experiment.yaml", out, Settings(n_boot=300))
    return folder, truth, result, out

