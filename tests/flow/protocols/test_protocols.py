"""Protocol files: schema, loader, shipped protocols and catalogue ids."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from msclab.errors import MsclabError
from msclab.flow.protocols import builtin_protocols, load_protocol, normalise_marker
from msclab.flow.protocols.schema import QuadrantSpec

SHIPPED = {"pregate", "msc_carryover", "th_ics", "treg", "tfh", "b_cells", "nk", "cd8_ctl", "dc", "macrophage",
           "msc_identity", "mouse_lineage"}


def _catalogue_ids() -> set[str]:
    root = Path(__file__).resolve().parents[3] / "src" / "msclab" / "catalogue" / "effects.yaml"
    data = yaml.safe_load(root.read_text())
    effects = data["effects"] if isinstance(data, dict) else data
    return {e["id"] for e in effects}


def test_every_shipped_protocol_loads_with_references():
    assert set(builtin_protocols()) >= SHIPPED
    ids = _catalogue_ids()
    for name in builtin_protocols():
        protocol = load_protocol(name)
        assert protocol.gates, name
        for gate in protocol.gates:
            assert gate.reference, f"{name}: a gate has no reference"
            entries = gate.quadrants if isinstance(gate, QuadrantSpec) else [gate]
            for entry in entries:
                assert entry.catalogue_id is None or entry.catalogue_id in ids, f"{name}: {entry.catalogue_id}"


def test_include_puts_shared_gates_first():
    names = load_protocol("treg").population_names()
    assert names[:4] == ["Lymphocytes", "Singlets", "Live", "CD45+"]


def test_bad_protocols_are_refused_with_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ngates:\n  - name: A\n    method: threshold\n    x: CD3\n    colour: red\n    reference: r\n")
    with pytest.raises(MsclabError, match="not a valid msclab protocol"):
        load_protocol(bad)
    orphan = tmp_path / "orphan.yaml"
    orphan.write_text("name: x\ngates:\n  - {name: A, parent: B, method: threshold, x: CD3, reference: r}\n")
    with pytest.raises(MsclabError, match="parent 'B' is not defined"):
        load_protocol(orphan)
    with pytest.raises(MsclabError, match="unknown protocol"):
        load_protocol("no_such_protocol")


def test_marker_names_match_loosely():
    assert normalise_marker("IFN-γ") == normalise_marker("IFNg") == normalise_marker("ifn-g")
    assert normalise_marker("CellTrace Violet") == "celltraceviolet"


def test_events_from_the_file_equal_those_from_anndata(sim_study):
    from msclab.flow.protocols import SampleEvents
    from msclab.io import open_fcs, read_fcs

    path = sim_study / "fcs" / "D1_pbmc_treg.fcs"
    streamed = SampleEvents.from_fcs(open_fcs(path), "D1_pbmc")
    via_anndata = SampleEvents.from_anndata(read_fcs(path), "D1_pbmc")
    assert streamed.data.tobytes() == via_anndata.data.tobytes()
    assert (streamed.channels, streamed.markers, streamed.ranges) == (
        via_anndata.channels, via_anndata.markers, via_anndata.ranges)
    assert streamed.spillover is not None
    assert streamed.spillover.detectors == via_anndata.spillover.detectors
    assert (streamed.spillover.matrix == via_anndata.spillover.matrix).all()
    channel = streamed.spillover.detectors[0]
    assert (streamed.linear(channel) == via_anndata.linear(channel)).all()
