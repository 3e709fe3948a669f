"""Fixtures of the assay tests: the plate simulator (``_sim.py``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest


def load_simulator() -> ModuleType:
    """Import ``_sim.py`` beside this file (tests run with ``--import-mode=importlib``)."""
    spec = importlib.util.spec_from_file_location("msclab_assay_sim", Path(__file__).with_name("_sim.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def sim() -> ModuleType:
    """The simulator module: ``simulate_plate``, ``RISING``, ``FALLING``."""
    return load_simulator()
