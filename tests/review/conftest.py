"""A small analysed simulated study shared by the review tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from msclab.pipeline import Settings, analyze
from msclab.simulate import StudyDesign, simulate_study


@pytest.fixture(scope="session")
def reviewed_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 2-donor Treg study (2,000 events per file) and its analysis: (study folder, output folder)."""
    folder = tmp_path_factory.mktemp("review_study")
    simulate_study(folder, StudyDesign(donors=2, events=2000, seed=5, panels=("treg",)))
    out = folder / "analysis"
    analyze(folder / "experiment.yaml", out, Settings(n_boot=100, plots=False))
    return folder, out


@pytest.fixture
def study(reviewed_study, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the analysed study (tests write overrides into it)."""
    src, out = reviewed_study
    dst = tmp_path / "study"
    shutil.copytree(src, dst)
    _rewrite_paths(dst / "analysis", src, dst)
    return dst, dst / "analysis"


def _rewrite_paths(out: Path, old: Path, new: Path) -> None:
    prov = out / "provenance.json"
    prov.write_text(prov.read_text(encoding="utf-8").replace(str(old), str(new)), encoding="utf-8")
