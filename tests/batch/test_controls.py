"""Which controls a sample is gated with, from the protocol and the samplesheet."""

from __future__ import annotations

from msclab.batch.controls import all_controls, closure, control_needs, controls_of, pooled_gates, task_groups
from msclab.experiment import read_experiment
from msclab.flow.protocols import load_protocol


def _panel(study, name):
    exp = read_experiment(study / "experiment.yaml")
    panel = exp.spec.panels[name]
    protocol = load_protocol(panel.protocol or name)
    rows = exp.files(name).assign(sample_id=lambda t: t["sample_id"].astype(str))
    return protocol, control_needs(protocol, panel.markers, panel.controls), rows


def test_treg_sample_needs_its_donors_fmo_and_unstimulated(study):
    protocol, needs, rows = _panel(study, "treg")
    kinds = {(n.kind, n.marker) for n in needs}
    assert kinds == {("fmo", "foxp3"), ("unstimulated", None)}
    assert not pooled_gates(protocol)
    assert controls_of("D1_pbmc", rows, needs) == ["D1_unstim", "D1_fmo_foxp3"]
    # the FMO is its own FoxP3 control but needs the unstimulated control for generation 0, and back
    assert controls_of("D1_fmo_foxp3", rows, needs) == ["D1_unstim"]
    assert closure(["D2_msc10"], rows, needs) == ["D2_msc10", "D2_unstim", "D2_fmo_foxp3"]
    assert set(all_controls(["D1_pbmc"], rows)) == {"D1_pbmc", "D1_unstim", "D1_fmo_foxp3", "D2_unstim",
                                                    "D2_fmo_foxp3"}


def test_th_ics_cytokines_come_from_the_unstimulated_control(study):
    _, needs, rows = _panel(study, "th_ics")
    assert {n.kind for n in needs} == {"unstimulated"}
    assert controls_of("D2_pbmc", rows, needs) == ["D2_unstim"]
    assert controls_of("D2_unstim", rows, needs) == []


def test_without_a_same_donor_control_every_control_of_the_kind_is_pooled(study):
    _, needs, rows = _panel(study, "th_ics")
    rows = rows[rows["sample_id"] != "D2_unstim"]
    assert controls_of("D2_pbmc", rows, needs) == ["D1_unstim"]


def test_default_tasks_gate_every_file_of_the_simulated_design_once(study):
    for name in ("treg", "th_ics"):
        _, needs, rows = _panel(study, name)
        todo = list(rows["sample_id"])
        groups = task_groups(todo, rows, needs, None)
        # one task per donor, whose subset is exactly its targets (controls included)
        assert len(groups) == rows["donor"].nunique()
        assert all(targets and sorted(targets) == sorted(subset) for targets, subset in groups)
        assert sorted(s for targets, _ in groups for s in targets) == sorted(todo)


def test_one_sample_per_task_gates_its_controls_with_it(study):
    _, needs, rows = _panel(study, "treg")
    groups = task_groups(list(rows["sample_id"]), rows, needs, 1)
    first = next(subset for targets, subset in groups if targets[0] == "D1_pbmc")
    assert first == ["D1_pbmc", "D1_unstim", "D1_fmo_foxp3"]
    # a donor's controls are done with its first sample, once; every sample is a target once
    targets = [s for t, _ in groups for s in t]
    assert sorted(targets) == sorted(rows["sample_id"]) and len(groups) == 6
