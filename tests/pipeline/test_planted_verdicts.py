"""End to end on simulated studies: planted effects get their verdicts, a null study gets almost none.

The studies are made by ``msclab simulate`` (8 donors) and analysed by ``msclab analyze``; the
truth is the simulator's planted direction per catalogue effect (truth.json ``effects``).
"""

from __future__ import annotations

import pytest

from msclab.pipeline import Settings, analyze
from msclab.simulate import StudyDesign, simulate_study

pytestmark = pytest.mark.slow

SETTINGS = Settings(n_boot=500, plots=False)


def _scored(result):
    table = result.comparison.table
    return table[table["verdict"] != "not_measured"]


def test_planted_study_gets_the_planted_verdicts(tmp_path):
    truth = simulate_study(tmp_path / "study", StudyDesign(donors=8, events=8000, seed=21))
    rows = _scored(analyze(tmp_path / "study" / "experiment.yaml", tmp_path / "out", SETTINGS))
    measured = rows[rows["verdict"] != "literature_conflicting"]
    effects = dict(truth["effects"])
    # Total T-cell division follows its planted CD4 and CD8 parts (both planted the same way).
    assert effects["t_prolif_cd4"] == effects["t_prolif_cd8"]
    effects["t_prolif_total"] = effects["t_prolif_cd4"]
    planted = measured["effect_id"].map(effects)
    expected = planted.map({"up": "concordant", "down": "concordant", "none": "inconclusive"})
    # Planted in the literature's direction -> concordant (the simulator plants every scored effect that way).
    assert (planted.isin(["up", "down"]) & (planted == measured["expected"])).all()
    hits = (measured["verdict"] == expected).mean()
    assert len(measured) >= 16, measured
    assert hits >= 0.9, measured[["effect_id", "contrast", "observed", "ci_low", "ci_high", "verdict"]]
    # Th2 is planted symmetric and conflicting in the literature: reported, never scored.
    assert set(rows.loc[rows["effect_id"] == "th2_frequency", "verdict"]) == {"literature_conflicting"}


def test_null_study_calls_almost_nothing(tmp_path):
    simulate_study(tmp_path / "study", StudyDesign(donors=8, events=8000, seed=22, null=True))
    rows = _scored(analyze(tmp_path / "study" / "experiment.yaml", tmp_path / "out", SETTINGS))
    measured = rows[rows["verdict"] != "literature_conflicting"]
    called = measured["verdict"].isin(["concordant", "discordant"]).mean()
    assert len(measured) >= 16
    assert called <= 0.10, measured[["effect_id", "contrast", "observed", "ci_low", "ci_high", "verdict"]]
