"""Flow batch normalisation in a study: a planted per-batch gain change is undone before gating."""

from __future__ import annotations

import json
import shutil

import flowio
import numpy as np
import pandas as pd
import pytest

from msclab.errors import ManifestError
from msclab.experiment import read_experiment, validate_experiment
from msclab.flow.panel import quantify_panel
from msclab.simulate import StudyDesign, simulate_study

#: The planted instrument change of batch B2: the CD25 detector reads 0.3x, the CD127 detector 2.5x.
GAINS = {"YG582-A": 0.3, "YG780-A": 2.5}


def _rewrite(source, target, gains, rows=slice(None)):
    """Copy an FCS file, multiplying detectors' raw values by ``gains`` (a PMT voltage change)."""
    fcs = flowio.FlowData(str(source))
    names = [fcs.channels[i + 1]["pnn"] for i in range(fcs.channel_count)]
    pns = [fcs.channels[i + 1]["pns"] for i in range(fcs.channel_count)]
    events = np.reshape(np.asarray(fcs.events, dtype=float), (-1, fcs.channel_count))[rows]
    for name, gain in gains.items():
        events[:, names.index(name)] *= gain
    meta = {k: v for k, v in fcs.text.items() if k == "spillover" or (k[:1] == "p" and k.endswith("r"))}
    with open(target, "wb") as handle:
        flowio.create_fcs(handle, events.ravel(), names, opt_channel_names=pns, metadata_dict=meta)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Four donors in two acquisition batches; batch B2's cytometer has a planted gain change; one bridge per batch."""
    folder = tmp_path_factory.mktemp("batches")
    truth = simulate_study(folder, StudyDesign(donors=4, events=4000, seed=5, panels=("treg",)))
    sheet = pd.read_csv(folder / "samplesheet.csv", dtype=str, keep_default_na=False)
    sheet["batch"] = np.where(sheet["donor"].isin(["D1", "D2"]), "B1", "B2")
    for file in sheet.loc[sheet["batch"] == "B2", "file"]:
        _rewrite(folder / file, folder / file, GAINS)
    bridge_source = folder / sheet.loc[sheet["sample_id"] == "D1_pbmc", "file"].iloc[0]
    shutil.copy(bridge_source, folder / "fcs" / "bridge_source.fcs")
    _rewrite(folder / "fcs" / "bridge_source.fcs", folder / "fcs" / "bridge_B1.fcs", {}, slice(0, None, 2))
    _rewrite(folder / "fcs" / "bridge_source.fcs", folder / "fcs" / "bridge_B2.fcs", GAINS, slice(1, None, 2))
    (folder / "fcs" / "bridge_source.fcs").unlink()
    template = sheet[sheet["sample_id"] == "D1_pbmc"].iloc[0]
    bridges = [{**template, "sample_id": f"bridge_{b}", "file": f"fcs/bridge_{b}.fcs", "donor": "bridge",
                "control_type": "bridge", "batch": b, "well": well} for b, well in (("B1", "H11"), ("B2", "H12"))]
    sheet = pd.concat([sheet, pd.DataFrame(bridges)], ignore_index=True)
    sheet.to_csv(folder / "samplesheet.csv", index=False)
    manifest = (folder / "experiment.yaml").read_text()
    normalised = manifest.replace("    protocol: treg\n", "    protocol: treg\n    normalisation:\n"
                                  "      batch: batch\n      reference_batch: B1\n")
    assert normalised != manifest
    (folder / "normalised.yaml").write_text(normalised)
    return folder, truth, sheet


def _treg(folder, manifest):
    exp = read_experiment(folder / manifest)
    result = quantify_panel(exp, "treg")
    pops = result.populations
    return result, pops


def test_planted_batch_gain_change_is_undone(study):
    folder, truth, sheet = study
    batch = dict(zip(sheet["sample_id"], sheet["batch"], strict=True))
    cultures = [s for s in truth["samples"] if s in batch and not s.endswith("unstim")]
    errors = {}
    for manifest in ("experiment.yaml", "normalised.yaml"):
        result, pops = _treg(folder, manifest)
        assert not result.failures
        treg = pops[pops["name"] == "CD25hi CD127lo"].set_index("sample_id")["pct_parent"]
        err = pd.Series({s: treg[s] - 100 * truth["samples"][s]["composition"]["treg"] for s in cultures})
        errors[manifest] = err.groupby(err.index.map(batch)).median()
    print(errors)
    raw, fixed = errors["experiment.yaml"], errors["normalised.yaml"]
    assert abs(raw["B2"] - raw["B1"]) > 1.0
    assert abs(fixed["B2"] - fixed["B1"]) < 0.5
    assert abs(fixed["B2"]) < 1.0
