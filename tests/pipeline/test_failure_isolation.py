"""One failed file removes only what depends on it (issue 13, finding 2).

A truncated Treg-panel FCS file of one culture fails that file's sample in the
Treg panel only: the culture's Th-ICS readouts and ELISA wells still count,
the donor keeps its Th-ICS and cytokine effects with the same values as
without the failure, and the failure is listed (failures.csv, exit status).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from msclab.pipeline import Settings, analyze

EXAMPLE = Path(__file__).resolve().parents[2] / "example_data"
SETTINGS = Settings(plots=False, n_boot=200)


@pytest.fixture(scope="module")
def intact(tmp_path_factory):
    return analyze(EXAMPLE / "experiment.yaml", tmp_path_factory.mktemp("intact"), SETTINGS)


@pytest.mark.slow
def test_a_truncated_file_fails_only_its_panel(intact, tmp_path):
    folder = tmp_path / "study"
    shutil.copytree(EXAMPLE, folder)
    damaged = folder / "fcs" / "D1_msc10_treg.fcs"
    data = damaged.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])

    result = analyze(folder / "experiment.yaml", tmp_path / "out", SETTINGS)

    failures = pd.read_csv(tmp_path / "out" / "failures.csv")
    assert list(zip(failures["sample_id"], failures["stage"])) == [("D1_msc10", "flow:treg")]
    assert result.n_failed == 1
    obs = result.readouts.obs
    assert obs.loc["D1_msc10", "status"] == "ok" and "flow:treg" in obs.loc["D1_msc10", "status_reason"]

    var = result.readouts.var
    treg = var.index[var["panel"] == "treg"]
    others = var.index[var["panel"] != "treg"]
    row = result.readouts[["D1_msc10"], :].to_df().iloc[0]
    assert row[treg].isna().all()
    assert row[others].notna().sum() == intact.readouts[["D1_msc10"], others].to_df().iloc[0].notna().sum() > 0

    # Effects of readouts that do not depend on the failed file are exactly as without the failure.
    key = ["readout", "contrast"]
    mine = result.effects.set_index(key)
    theirs = intact.effects.set_index(key)
    unaffected = [k for k in theirs.index if not k[0].startswith("flow:treg:")]
    assert len(unaffected) > 0
    for column in ("estimate", "n_donors"):
        np.testing.assert_array_equal(mine.loc[unaffected, column].to_numpy(), theirs.loc[unaffected, column].to_numpy())
    # The Treg effects of the 1:10 contrast lose exactly one donor.
    lost = theirs.loc[[k for k in theirs.index if k[0].startswith("flow:treg:") and k[1] == "msc_1to10"], "n_donors"]
    kept = mine.loc[lost.index, "n_donors"]
    assert ((lost - kept) == 1).any() and ((lost - kept) <= 1).all()
