"""Fixtures of the hardening tests: seed files and the helpers of ``_support.py``.

Tests run with ``--import-mode=importlib``, so ``_support.py`` is loaded here
and registered as the module ``hardening_support``, which the test modules
import.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _load_support():
    spec = importlib.util.spec_from_file_location("hardening_support", HERE / "_support.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


hs = _load_support()

@pytest.fixture(scope="session")
def example_fcs(repo_root: Path) -> Path:
    """One simulated FCS 3.1 file of example_data (FCS 3.1, $SPILLOVER, 9 channels)."""
    return repo_root / "example_data" / "fcs" / "D1_pbmc_treg.fcs"


@pytest.fixture(scope="session")
def shared_fcs_seeds(shared_data: Path) -> list[Path]:
    """The small real FCS files used as fuzzing seeds."""
    return [shared_data / name for name in hs.SHARED_FCS_SEEDS]
