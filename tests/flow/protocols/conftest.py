"""A simulated study gated once per session by the shipped protocols."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import msclab
from msclab.flow.panel import PanelResult, quantify_panel
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


def reported_pct(result: PanelResult) -> pd.Series:
    """(sample_id, population name) -> reported % of parent (FMO-omitted populations are not reported)."""
    rec = result.records[result.records["statistic"] == "pct_parent"]
    names = result.populations[["sample_id", "population", "name"]]
    return rec.merge(names, on=["sample_id", "population"]).set_index(["sample_id", "name"])["value"]


def compare_with_truth(result: PanelResult, truth: dict, panel: str) -> tuple[int, float]:
    """Compare every reported population of >= 200 true events with the simulated truth.

    Each must be within max(1 percentage point, 10 % of the truth); an
    unreported one must belong to an FMO control (its omitted marker).

    Returns
    -------
    (compared, worst)
        How many populations were compared, and the worst error as a
        fraction of its tolerance.
    """
    reported = reported_pct(result)
    compared, worst = 0, 0.0
    for sid, sample in truth["samples"].items():
        for name, true in sample["populations"].get(panel, {}).items():
            if true["count"] < 200:
                continue
            if (sid, name) not in reported.index:
                assert "fmo" in sid, f"{sid} {name} is not reported"
                continue
            expected = 100 * true["observed"]
            got = reported[(sid, name)]
            tolerance = max(1.0, 0.1 * expected)
            assert abs(got - expected) <= tolerance, f"{sid} {name}: {got:.2f}% vs truth {expected:.2f}%"
            compared += 1
            worst = max(worst, abs(got - expected) / tolerance)
    return compared, worst
