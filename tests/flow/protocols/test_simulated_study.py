"""The shipped th_ics and treg protocols recover a simulated study's truth.

Thresholds come from the simulated FMO / unstimulated controls through the
samplesheet, never from truth.json; truth is only compared with at the end.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import msclab
from msclab.flow.gating import Events, gate_events, read_gatingml, write_gatingml
from msclab.flow.protocols import SampleEvents, load_protocol, resolve_protocol
from msclab.flow.result import PanelProvenance
from msclab.io import open_fcs
from msclab.readouts import build_readouts

from .conftest import compare_with_truth


@pytest.mark.parametrize("panel", ["th_ics", "treg"])
def test_frequencies_match_truth(sim_results, sim_truth, panel):
    result, _ = sim_results[panel]
    assert result.failures == {}
    compared, worst = compare_with_truth(result, sim_truth, panel)
    assert compared >= {"th_ics": 70, "treg": 110}[panel]
    assert worst < 1.0


def test_fmo_does_not_report_the_omitted_marker(sim_results):
    result, _ = sim_results["treg"]
    fmo = result.records[result.records["sample_id"].str.contains("fmo")]
    assert not fmo["population"].str.endswith(("/Treg", "/FoxP3+", "/CD25+FoxP3+")).any()
    assert fmo["population"].str.endswith("/CD4").any()


def test_planted_effects_keep_their_direction(sim_results, sim_truth):
    values = pd.concat([r.records for r, _ in sim_results.values()])
    catalogue = values[values["catalogue_id"] != ""]
    checked = 0
    for effect, direction in sim_truth["effects"].items():
        rows = catalogue[catalogue["catalogue_id"] == effect]
        if rows.empty or direction == "none":
            continue
        by_sample = rows.set_index("sample_id")["value"]
        donors = sorted({sid.split("_")[0] for sid in by_sample.index})
        diffs = [by_sample[f"{d}_msc10"] - by_sample[f"{d}_pbmc"] for d in donors]
        sign = np.sign(np.mean(diffs))
        assert sign == (1 if direction == "up" else -1), f"{effect}: {diffs}"
        checked += 1
    assert checked == 5  # th1, th17, treg, % CD4 divided, % CD8 divided


def test_records_build_readouts(sim_results, sim_study):
    import msclab

    experiment = msclab.read_experiment(sim_study / "experiment.yaml")
    records = pd.concat([r.records for r, _ in sim_results.values()])
    adata = build_readouts(experiment.samples, records)
    assert adata.n_obs == experiment.samples.shape[0]
    treg = adata.var[adata.var["catalogue_id"] == "treg_frequency"]
    assert len(treg) == 1 and treg["kind"].iloc[0] == "frequency"
    assert set(adata.var["kind"]) >= {"frequency", "count", "mfi", "proliferation"}
    assert all(r.startswith(("flow:th_ics:/", "flow:treg:/")) for r in adata.var_names)


@pytest.mark.parametrize("panel", ["treg", "th_ics"])
def test_resolved_trees_round_trip_through_gatingml_event_by_event(sim_study, panel, tmp_path):
    """The resolver builds each mask once; the engine on the exported GatingML finds the same events."""
    experiment = msclab.read_experiment(sim_study / "experiment.yaml")
    panel_spec = experiment.spec.panels[panel]
    protocol = load_protocol(panel_spec.protocol or panel, base=experiment.root)
    rows = {str(r["sample_id"]): r for r in experiment.files(panel).to_dict("records")}
    samples = {sid: SampleEvents.from_fcs(open_fcs(r["file"]), sid, panel_spec.markers, info=r,
                                          scale=protocol.transforms) for sid, r in rows.items()}
    resolution = resolve_protocol(protocol, samples, panel_controls=panel_spec.controls)
    assert not resolution.failures and len(resolution.samples) == len(rows)
    for sid, rs in resolution.samples.items():
        path = tmp_path / f"{sid}.xml"
        write_gatingml(rs.tree, path)
        engine = gate_events(read_gatingml(path), Events.from_fcs(open_fcs(rows[sid]["file"]), sid))
        assert set(engine.membership) == set(rs.ids.values())
        for name, pid in rs.ids.items():
            assert np.array_equal(engine.membership[pid], rs.membership[name]), (sid, name)
        assert sum(int(m.sum()) for m in rs.membership.values()) > 0


def test_provenance_records_every_resolved_gate(sim_results):
    result, prov = sim_results["treg"]
    gating = prov.steps["gating"]["treg"]
    assert gating["protocol"] == "treg"
    sample = gating["samples"]["D1_pbmc"]
    assert set(sample) >= {"Lymphocytes", "Singlets", "Live", "CD45+", "T cells", "CD4,CD8", "CD25hi CD127lo",
                           "FoxP3+", "Treg", "CD4 divided", "CD8 divided"}
    foxp3 = sample["FoxP3+"]["resolved"]
    assert foxp3["method"] == "control" and foxp3["controls"] == ["D1_fmo_foxp3"]
    assert sample["CD4 divided"]["controls"] == ["D1_unstim"]
    assert all("reference" in g for g in sample.values())
    assert len(prov.inputs) == 20


def test_proliferation_readouts(sim_results):
    result, _ = sim_results["treg"]
    rec = result.records.set_index(["sample_id", "statistic", "population"])["value"]
    cd4 = result.populations.query("sample_id == 'D1_pbmc' and name == 'CD4'")["population"].iloc[0]
    divided = rec[("D1_pbmc", "pct_divided", cd4)]
    unstim = rec[("D1_unstim", "pct_divided", cd4)]
    assert divided > 40 and unstim < 8
    assert 0 < rec[("D1_pbmc", "division_index", cd4)] < rec[("D1_pbmc", "proliferation_index", cd4)]


def test_low_events_flag(sim_results):
    result, _ = sim_results["th_ics"]
    counts = result.records[result.records["statistic"] == "count"]
    small = counts[counts["value"] < 100]
    assert not small.empty and (small["flag"] == "low_events").all()
    assert (counts[counts["value"] >= 100]["flag"] == "ok").all()
    assert set(result.qc["check"]) >= {"flow_rate_cv", "signal_shift", "margin_events"}
    assert result.qc.loc[result.qc["check"].isin(["flow_rate_cv", "signal_shift", "margin_events"]), "passed"].all()


def test_the_panel_provenance_fragment_splits_per_sample_and_joins_back(sim_results, sim_study):
    """``batch`` caches each sample's part of the fragment and joins them: the panel's record comes back."""
    result, prov = sim_results["treg"]
    fragment = result.provenance
    assert isinstance(fragment, PanelProvenance) and fragment.gating["protocol"] == "treg"
    assert prov.steps["gating"]["treg"] == fragment.gating  # quantify_panel(provenance=) records the fragment
    files = msclab.read_experiment(sim_study / "experiment.yaml").files("treg")
    parts = [PanelProvenance.from_dict(json.loads(json.dumps(fragment.sample(sid, file).to_dict(), default=str)))
             for sid, file in zip(files["sample_id"], files["file"])]
    assert all(len(p.gating["samples"]) == 1 for p in parts)
    joined = PanelProvenance.merge("treg", parts)
    as_json = lambda steps: json.loads(json.dumps(steps, default=str))  # noqa: E731
    assert as_json(joined.steps()) == as_json(fragment.steps())
    assert joined.inputs == fragment.inputs and len(joined.inputs) == len(files)
