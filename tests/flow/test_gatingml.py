"""GatingML 2.0 compliance: every gate of the suite gives FlowKit's per-event truth on data1.fcs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from msclab.errors import MsclabError
from msclab.flow.gating import Events, gate_events, read_gatingml, write_gatingml
from msclab.io import read_fcs

pytestmark = pytest.mark.shared_data

GML_DIR = "gatingml2_compliance/gml"
# the same location as the shared_data fixture (tests/conftest.py), to list the files at collection time
_SHARED = Path(os.environ.get("MSCLAB_SHARED_DATA", Path(__file__).resolve().parents[1] / "data"))
COMPLIANT = sorted(
    p.name for p in (_SHARED / GML_DIR).glob("*.xml") if p.name != "gml_range_gate_attr_testing.xml"
) or ["gml_all_gates.xml"]
# Gates compared with a truth file of another name (test_data.md section 2.1).
TRUTH_ALIAS = {("gml_parent_quadrant_rect_gate.xml", "ParRectangle1"): "ParQuadRect"}
NO_TRUTH = {"myEllipse2"}


@pytest.fixture(scope="module")
def data1(shared_data: Path) -> Events:
    adata = read_fcs(shared_data / "gatingml2_compliance" / "data1.fcs")
    assert adata.n_obs == 13367
    return Events.from_anndata(adata, "data1.fcs")


def _truth(shared_data: Path, gate_id: str) -> np.ndarray:
    path = shared_data / "gatingml2_compliance" / "truth" / f"Results_{gate_id}.txt"
    return pd.read_csv(path, header=None, dtype="bool").squeeze().to_numpy()


@pytest.mark.parametrize("xml", COMPLIANT)
def test_gate_matches_truth_exactly(shared_data: Path, data1: Events, xml: str) -> None:
    tree = read_gatingml(shared_data / GML_DIR / xml)
    result = gate_events(tree, data1)
    compared = 0
    for gate_id, member in result.membership.items():
        if gate_id in NO_TRUTH:
            continue
        truth = _truth(shared_data, TRUTH_ALIAS.get((xml, gate_id), gate_id))
        assert truth.shape == member.shape
        mismatches = int((truth != member).sum())
        assert mismatches == 0, f"{xml} {gate_id}: {mismatches} events differ"
        compared += 1
    assert compared >= 1 or xml == "gml_ellipse2_gate.xml"


def test_all_gates_file_covers_the_suite(shared_data: Path, data1: Events) -> None:
    tree = read_gatingml(shared_data / GML_DIR / "gml_all_gates.xml")
    counts = gate_events(tree, data1).counts()
    # expected counts from test_data.md section 2.1 (number of 1s per truth file)
    assert len(counts) == 49
    assert counts["Range1"] == 440 and counts["Polygon3NS"] == 1325 and counts["ScaleRect1"] == 809
    assert counts["FL2N-FL4N"] == 5148 and counts["And3"] == 120 and counts["RatRange1"] == 7679


def test_noncompliant_file_is_refused(shared_data: Path) -> None:
    with pytest.raises(MsclabError, match="unexpected element <sample>") as info:
        read_gatingml(shared_data / GML_DIR / "gml_range_gate_attr_testing.xml")
    assert info.value.file is not None and info.value.hint


@pytest.mark.parametrize("xml", ["gml_all_gates.xml", "gml_matrix_transform_logicle_rect1_gate.xml",
                                 "gml_parent_quadrant_rect_gate.xml", "gml_log_ratio_range1_gate.xml"])
def test_export_round_trip(shared_data: Path, data1: Events, tmp_path: Path, xml: str) -> None:
    tree = read_gatingml(shared_data / GML_DIR / xml)
    out = tmp_path / "exported.xml"
    write_gatingml(tree, out)
    again = read_gatingml(out)
    assert list(again.populations) == list(tree.populations)
    first, second = gate_events(tree, data1), gate_events(again, data1)
    for gate_id, member in first.membership.items():
        np.testing.assert_array_equal(second.membership[gate_id], member)
        if gate_id not in NO_TRUTH:
            np.testing.assert_array_equal(member, _truth(shared_data, TRUTH_ALIAS.get((xml, gate_id), gate_id)))


def test_entities_are_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE g [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>\n'
        '<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating">&b;</gating:Gating-ML>\n'
    )
    with pytest.raises(MsclabError, match="not readable as XML"):
        read_gatingml(bomb)


def test_unknown_reference_is_refused(tmp_path: Path) -> None:
    xml = tmp_path / "bad.xml"
    xml.write_text(
        '<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating" '
        'xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">'
        '<gating:RectangleGate gating:id="A" gating:parent_id="Nope">'
        '<gating:dimension gating:min="1"><data-type:fcs-dimension data-type:name="FSC-H"/></gating:dimension>'
        '</gating:RectangleGate></gating:Gating-ML>'
    )
    with pytest.raises(MsclabError, match="unknown gate 'Nope'"):
        read_gatingml(xml)
