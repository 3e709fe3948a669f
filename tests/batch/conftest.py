"""Small simulated studies and their ``msclab analyze`` results, shared by the batch tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from msclab.pipeline import Settings, analyze
from msclab.simulate import StudyDesign, simulate_study

#: Fast settings used by every batch test (and by the reference analyses).
SETTINGS = Settings(plots=False, n_boot=200)
#: Tables that must be equal between ``analyze`` and ``batch``.
TABLES = ("readouts.csv", "effects.csv", "comparison.csv", "populations.csv", "concentrations.csv", "curves.csv",
          "failures.csv")
#: The same settings as options of ``msclab batch`` / ``msclab analyze``.
CLI_SETTINGS = ["--no-plots", "--n-boot", "200"]


def zero_events(path: Path) -> None:
    """Overwrite an FCS file's DATA segment with zeros: still a valid file, but nothing to gate."""
    data = bytearray(path.read_bytes())
    begin, end = int(data[26:34]), int(data[34:42])
    data[begin:end + 1] = bytes(end + 1 - begin)
    path.write_bytes(bytes(data))


def assert_same_tables(a: Path, b: Path, tables: tuple[str, ...] = TABLES) -> None:
    """Every table in ``tables`` is identical in the two output folders."""
    for name in tables:
        pd.testing.assert_frame_equal(pd.read_csv(a / name), pd.read_csv(b / name), obj=name)


@pytest.fixture(scope="session")
def study(tmp_path_factory) -> Path:
    """A 2-donor simulated study (2000 events per file)."""
    folder = tmp_path_factory.mktemp("study") / "study"
    simulate_study(folder, StudyDesign(donors=2, events=2000, seed=3))
    return folder


@pytest.fixture(scope="session")
def reference(study, tmp_path_factory) -> Path:
    """``analyze`` of :func:`study`."""
    out = tmp_path_factory.mktemp("reference")
    analyze(study / "experiment.yaml", out, SETTINGS)
    return out


@pytest.fixture
def copy_study(study, tmp_path):
    """Return a function that copies the study into the test's folder (to damage or rename it)."""
    def copy(name: str = "study") -> Path:
        target = tmp_path / "inputs" / name
        shutil.copytree(study, target)
        return target
    return copy
