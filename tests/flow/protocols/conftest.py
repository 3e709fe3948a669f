"""A simulated study gated once per session by the shipped protocols."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import msclab
from msclab.flow.panel import quantify_panel
from msclab.provenance import Provenance
from msclab.simulate import StudyDesign, simulate_study


@pytest.fixture(scope="session")
def sim_study(tmp_path_factory) -> Path:
    """4 donors x 20000 events, seed 1, with per-event labels."""
    out = tmp_path_factory.mktemp("sim_protocols")
    simulate_study(out, StudyDesign(donors=4, events=20000, seed=1, labels=True))
    return out


@pytest.fixture(scope="session")
def sim_truth(sim_study: Path) -> dict:
    return json.loads((sim_study / "truth.json").read_text())


@pytest.fixture(scope="session")
def sim_results(sim_study: Path) -> dict:
    """Panel name -> (PanelResult, Provenance) for th_ics and treg."""
    experiment = msclab.read_experiment(sim_study / "experiment.yaml")
    out = {}
    for panel in ("th_ics", "treg"):
        prov = Provenance("test")
        out[panel] = (quantify_panel(experiment, panel, provenance=prov), prov)
    return out
