"""A small simulated study shared by the foundation tests (made once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from msclab.simulate import StudyDesign, simulate_study



@pytest.fixture(scope="session")
def small_design() -> StudyDesign:
    """2 donors, 3,000 events per file, per-event labels."""
    return StudyDesign(donors=2, events=3000, seed=1, labels=True)


@pytest.fixture(scope="session")
def small_study(tmp_path_factory: pytest.TempPathFactory, small_design: StudyDesign) -> tuple[Path, dict]:
    """A 2-donor study with per-event labels: (folder, truth)."""
    folder = tmp_path_factory.mktemp("study")
    truth = simulate_study(folder, small_design)
    return folder, truth
