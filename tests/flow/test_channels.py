"""One channel/marker lookup: the resolver, the gate plan, the batch planner and the engine agree."""

from __future__ import annotations

import numpy as np
import pytest

from msclab.batch.controls import control_needs
from msclab.errors import MsclabError
from msclab.flow.channels import ChannelIndex, normalise_marker
from msclab.flow.gating import GateTree, Population, RectangleGate, gate_events
from msclab.flow.gating.engine import Events
from msclab.flow.gating.gates import UNCOMPENSATED, Dimension
from msclab.flow.protocols import SampleEvents
from msclab.flow.protocols.schema import Protocol

CHANNELS = ["FSC-A", "SSC-A", "FL1-A", "FL2/A", "FL3-A", "Time"]
MARKERS = {"FL1-A": "CD3", "FL2/A": "IFN-γ", "FL3-A": "Live/Dead"}

#: name asked -> channel meant (None: not in the panel)
CASES = {
    "CD3": "FL1-A",            # marker
    "cd-3": "FL1-A",           # marker, other spelling
    "IFNg": "FL2/A",           # Greek letter spelled out
    "Viability|Live/Dead": "FL3-A",  # second alternative
    "FL1-A": "FL1-A",          # channel
    "FL2_A": "FL2/A",          # FlowJo writes '/' as '_'
    "ssc-a": "SSC-A",          # channel, other case
    "CD8": None,
    "CD8|CD4": None,
}


@pytest.mark.parametrize(("spec", "channel"), CASES.items())
def test_sample_events_and_the_engine_find_the_same_channel(spec, channel):
    data = np.zeros((4, len(CHANNELS)), dtype=np.float32)
    sample = SampleEvents(sample_id="s1", data=data, channels=CHANNELS, markers=dict(MARKERS),
                          ranges=dict.fromkeys(CHANNELS, 262144.0))
    assert ChannelIndex(CHANNELS, MARKERS).find(spec) == channel
    if channel is None:
        with pytest.raises(MsclabError, match="does not have"):
            sample.channel(spec)
        return
    assert sample.channel(spec) == channel
    # the engine reads the same column for a gate drawn on that name
    data[:, CHANNELS.index(channel)] = [1.0, 2.0, 3.0, 4.0]
    tree = GateTree(populations={"p": Population(
        "p", RectangleGate((Dimension(spec, UNCOMPENSATED, None),), ((2.5, None),)))})
    events = Events(data=data, channels=CHANNELS, markers=[MARKERS.get(c) for c in CHANNELS], sample_id="s1")
    assert gate_events(tree, events).membership["p"].tolist() == [False, False, True, True]


@pytest.mark.parametrize(("spec", "channel"), CASES.items())
def test_the_panel_has_what_a_sample_of_it_finds(spec, channel):
    panel = ChannelIndex.of_panel(MARKERS)
    scatter_or_time = channel is not None and channel.upper().startswith(("FSC", "SSC", "TIME"))
    assert panel.has(spec) == (channel in MARKERS or scatter_or_time)
    if channel in MARKERS:
        assert panel.marker_key(spec) == normalise_marker(MARKERS[channel])
    assert ChannelIndex.of_panel(list(MARKERS.values())).has("CD3")
    assert panel.has("FSC-H") and panel.has("Time"), "every file has scatter and time"


def test_an_exact_channel_name_wins_and_a_repeated_marker_gives_the_first_channel():
    index = ChannelIndex(["A", "B", "C"], {"A": "B", "B": "CD4", "C": "CD4"})
    assert index.find("B") == "B"
    assert index.find("CD4") == "B"
    assert index.find("A|B") == "A"
    assert index.marker_key("C") == "cd4"
    assert ChannelIndex(["A"], {}).marker_key("A") is None


def test_the_batch_planner_asks_for_the_fmo_of_the_marker_the_resolver_gates():
    protocol = Protocol.model_validate({
        "name": "one",
        "gates": [{"name": "IFNg+", "method": "threshold", "reference": "test", "x": "ifn-gamma",
                   "threshold": {"method": "control", "control": "fmo"}}],
    })
    needs = control_needs(protocol, {"FL2/A": "IFN-γ"}, {})
    assert [(n.kind, n.marker) for n in needs] == [("fmo", "ifng")]
    # gated by channel name in the protocol: the same FMO
    protocol.gates[0].x = "fl2/a"
    assert [(n.kind, n.marker) for n in control_needs(protocol, {"FL2/A": "IFN-γ"}, {})] == [("fmo", "ifng")]
