"""Discovery on the second study generator (another lab's detector names and marker spellings).

``tests/studies/otherlab.py`` writes a study with BD detector names, ``Foxp3``,
``IFN-gamma`` and ``IL17A`` spellings and planted MSC effects
(:data:`otherlab.EFFECTS`, log2 changes at 1:5). Acceptance (issue 17): the
named Treg, Th1 and Th17 clusters' per-sample fractions of T cells follow the
gated fractions with Pearson r >= 0.95 on the log scale, and the discovery
estimate beside each gated effect holds the planted change.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from msclab.compare.discovery import BOTH_SIGNIFICANT
from msclab.pipeline import analyze
from msclab.settings import Settings

_spec = importlib.util.spec_from_file_location("otherlab", Path(__file__).parents[1] / "studies" / "otherlab.py")
otherlab = sys.modules.setdefault("otherlab", importlib.util.module_from_spec(_spec))
if not hasattr(otherlab, "write_study"):
    _spec.loader.exec_module(otherlab)

pytestmark = pytest.mark.slow

#: Named population -> (panel of the other lab's study, catalogue effect).
NAMED = {"Treg": ("Treg", "treg_frequency"), "Th1": ("Th", "th1_frequency"), "Th17": ("Th", "th17_frequency")}


@pytest.fixture(scope="module")
def otherlab_run(tmp_path_factory):
    """A 4-donor study of the other lab (Treg and Th panels), analysed with discovery on every panel."""
    root = tmp_path_factory.mktemp("otherlab_discovery")
    otherlab.write_study(root / "study", otherlab.OtherLabDesign(donors=4, events=10000, seed=7, panels=("Treg", "Th")))
    return analyze(root / "study" / "experiment.yaml", root / "out", Settings(discovery=True, plots=False, n_boot=100))


def _fractions(result, panel: str, name: str) -> tuple[pd.Series, pd.Series]:
    """Per sample: the gated fraction of ``name`` among T cells and the named clusters' fraction."""
    outputs = result.provenance.steps["discovery"][panel]["outputs"]
    clusters = pd.read_csv(outputs["clusters"], dtype={"cluster": str})
    abundance = pd.read_csv(outputs["abundance"], dtype={"cluster": str}).merge(clusters[["cluster", "annotation"]])
    found = abundance[abundance["annotation"] == name].groupby("sample_id")["fraction"].sum()
    pops = result.populations[result.populations["panel"] == panel]
    t_cells = pops[pops["name"] == "T cells"].set_index("sample_id")["count"]
    gated = pops[pops["name"] == name].set_index("sample_id")["count"] / t_cells
    common = gated.index.intersection(found.index)
    return gated[common], found[common]


@pytest.mark.parametrize("name", list(NAMED))
def test_named_fractions_follow_the_gates(otherlab_run, name):
    panel, _ = NAMED[name]
    assert otherlab_run.provenance.steps["discovery"][panel]["skipped_rules"] == []  # Foxp3, IFN-gamma, IL17A resolve
    gated, found = _fractions(otherlab_run, panel, name)
    ok = (gated > 0) & (found > 0)
    r = float(np.corrcoef(np.log(gated[ok]), np.log(found[ok]))[0, 1])
    print(f"{name}: log-scale r = {r:.3f} over {int(ok.sum())} samples")
    assert ok.sum() >= 12 and r >= 0.95, (name, r)


def test_discovery_estimates_hold_the_planted_effects(otherlab_run):
    rows = otherlab_run.comparison.table
    rows = rows[rows["contrast"] == "MSC 1:5"].set_index("effect_id")
    for name, (_, effect) in NAMED.items():
        row, planted = rows.loc[effect], otherlab.EFFECTS[effect].log2
        print(f"{name}: gated {row['observed']:+.2f}, discovery {row['discovery_log2_ratio']:+.2f} "
              f"[{row['discovery_ci_low']:+.2f}, {row['discovery_ci_high']:+.2f}], planted {planted:+.2f}: "
              f"{row['agreement']}")
        assert row["discovery_population"] == name
        assert row["discovery_ci_low"] <= planted <= row["discovery_ci_high"], name
        assert row["agreement"] == BOTH_SIGNIFICANT, (name, row["agreement"])
