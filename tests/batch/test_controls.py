"""Which controls a sample is gated with, from the protocol and the samplesheet."""

from __future__ import annotations

from msclab.batch.controls import all_controls, closure, control_needs, controls_of, pooled_gates
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
