"""Flow batch normalisation in a study: a planted per-batch gain change is undone before gating."""

from __future__ import annotations

import shutil

import flowio
import numpy as np
import pandas as pd
import pytest

from msclab.errors import ManifestError
from msclab.experiment import read_experiment, validate_experiment
from msclab.flow.panel import quantify_panel
from msclab.simulate import StudyDesign, simulate_study

#: The planted instrument change of batch B2: detector gains of CD25, CD127, FoxP3 and CD4.
GAINS = {"YG582-A": 0.3, "YG780-A": 2.5, "R670-A": 0.25, "R780-A": 0.5}


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


def _add_batches(folder, gains):
    """Batches B1 (donors D1, D2) and B2 (D3, D4), B2 acquired with ``gains``; a bridge sample in each batch."""
    sheet = pd.read_csv(folder / "samplesheet.csv", dtype=str, keep_default_na=False)
    sheet["batch"] = np.where(sheet["donor"].isin(["D1", "D2"]), "B1", "B2")
    for file in sheet.loc[sheet["batch"] == "B2", "file"]:
        _rewrite(folder / file, folder / file, gains)
    source = folder / sheet.loc[sheet["sample_id"] == "D1_pbmc", "file"].iloc[0]
    _rewrite(source, folder / "fcs" / "bridge_B1.fcs", {}, slice(0, None, 2))
    _rewrite(source, folder / "fcs" / "bridge_B2.fcs", gains, slice(1, None, 2))
    template = sheet[sheet["sample_id"] == "D1_pbmc"].iloc[0]
    bridges = [{**template, "sample_id": f"bridge_{b}", "file": f"fcs/bridge_{b}.fcs", "donor": "bridge",
                "control_type": "bridge", "batch": b, "well": well} for b, well in (("B1", "H11"), ("B2", "H12"))]
    pd.concat([sheet, pd.DataFrame(bridges)], ignore_index=True).to_csv(folder / "samplesheet.csv", index=False)
    manifest = (folder / "experiment.yaml").read_text()
    normalised = manifest.replace("    protocol: treg\n", "    protocol: treg\n    normalisation:\n"
                                  "      batch: batch\n      reference_batch: B1\n")
    assert normalised != manifest
    (folder / "normalised.yaml").write_text(normalised)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The same study acquired twice: as it is (truth) and with batch B2's planted gain change."""
    root = tmp_path_factory.mktemp("batches")
    simulate_study(root / "truth", StudyDesign(donors=4, events=4000, seed=5, panels=("treg",)))
    shutil.copytree(root / "truth", root / "drifted")
    _add_batches(root / "truth", {})
    _add_batches(root / "drifted", GAINS)
    return root


def _gated(folder, manifest):
    result = quantify_panel(read_experiment(folder / manifest), "treg")
    assert not result.failures
    pops = result.populations
    pops = pops[~pops["sample_id"].str.startswith("bridge")]
    freq = pops.set_index(["sample_id", "name"])["pct_parent"]
    mfi = result.records[result.records["statistic"].str.startswith("median:")]
    return freq, mfi.set_index(["sample_id", "readout"])["value"]


def test_planted_batch_gain_change_is_undone_before_gating(study):
    truth_freq, truth_mfi = _gated(study / "truth", "experiment.yaml")
    raw_freq, raw_mfi = _gated(study / "drifted", "experiment.yaml")
    fixed_freq, fixed_mfi = _gated(study / "drifted", "normalised.yaml")
    # The CD25hi CD127lo mixture gate is unstable on its own (issue 13, finding 4): left out here.
    names = truth_freq.index.get_level_values(1)
    b2 = truth_freq.index.get_level_values(0).str.match(r"D[34]_") & ~names.isin(["CD25hi CD127lo", "Treg"])
    raw_err = (raw_freq - truth_freq)[b2].abs()
    fixed_err = (fixed_freq - truth_freq)[b2].abs()
    # Without normalisation the CD25+ gate of batch B2 moves by several percentage points.
    cd25 = raw_err.index.get_level_values(1) == "CD25+"
    assert raw_err[cd25].median() > 3.0
    # With it the error is at least halved, and >= 90% of B2's sample x population pairs are within
    # max(1 pp, 15% relative) of the same cells acquired without the drift.
    assert fixed_err[cd25].median() < 0.5 * raw_err[cd25].median()
    tolerance = np.maximum(1.0, 0.15 * truth_freq[b2])
    assert (fixed_err <= tolerance).mean() >= 0.9, fixed_err[fixed_err > tolerance]
    # Intensities: batch B2's medians are off by the planted gains before, and back within 20% after.
    b2_mfi = truth_mfi.index.get_level_values(0).str.match(r"D[34]_") & (truth_mfi.abs() > 50)
    raw_ratio = (raw_mfi / truth_mfi)[b2_mfi]
    fixed_ratio = (fixed_mfi / truth_mfi)[b2_mfi]
    assert (np.abs(np.log(raw_ratio)) > np.log(1.5)).any()
    assert np.median(np.abs(np.log(fixed_ratio))) < min(np.log(1.2), np.median(np.abs(np.log(raw_ratio))) / 3)
    # Batch B1 (the reference) keeps its events; its gates can still see B2's controls, so allow 1 pp.
    b1 = truth_freq.index.get_level_values(0).str.match(r"D[12]_") & ~names.isin(["CD25hi CD127lo", "Treg"])
    assert ((fixed_freq - truth_freq)[b1].abs() <= 1.0).all()


def test_normalisation_is_recorded_in_provenance(study):
    from msclab.provenance import Provenance

    prov = Provenance("test")
    quantify_panel(read_experiment(study / "drifted" / "normalised.yaml"), "treg", provenance=prov)
    record = prov.steps["normalisation"]["treg"]
    assert record["reference_batch"] == "B1" and record["bridges"] == {"B1": ["bridge_B1"], "B2": ["bridge_B2"]}
    shifts = record["batches"]["B2"]["channels"]
    # The CD25 detector was planted at 0.3x: the bridge's median moves up on the gating scale.
    assert shifts["CD25"]["shift"] > 0.02 and shifts["CD127"]["shift"] < -0.02
    assert record["batches"]["B1"]["reference"] is True


def test_a_batch_without_bridge_fails_its_samples_visibly(study, tmp_path):
    folder = tmp_path / "nobridge"
    shutil.copytree(study / "drifted", folder)
    sheet = pd.read_csv(folder / "samplesheet.csv", dtype=str, keep_default_na=False)
    sheet[sheet["sample_id"] != "bridge_B2"].to_csv(folder / "samplesheet.csv", index=False)
    problems = validate_experiment(folder / "normalised.yaml")
    assert any("B2" in str(p) and "bridge" in str(p) for p in problems), problems
    with pytest.raises(ManifestError):
        read_experiment(folder / "normalised.yaml")
