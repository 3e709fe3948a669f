"""Spillover matrices from $SPILLOVER, SPILL, $SPILL and Beckman $DFCmTOn keywords."""

from __future__ import annotations

import flowkit as fk
import numpy as np
import pytest

from msclab.errors import FCSError
from msclab.io import open_fcs, spillover_from_metadata


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("name", "keyword", "size"),
    [
        ("fcs_real/flowio/B01 KC-A-W---91-US.fcs", "$SPILLOVER", None),
        ("assay_exports/legendplex_fcs/legendplex_K2-C07-A7_cytoflex.fcs", "$SPILLOVER", None),
        ("flowjo_workspaces/flowsom_68983/68983.fcs", "SPILL", 11),
        ("fcs_edge_cases/100715.fcs", "SPILL", 13),
        ("fcs_edge_cases/Stratedigm - S1400.fcs", "SPILL", 32),
        ("fcs_edge_cases/System II listmode with extra info in bits D10-D15.LMD", "$DFCmTOn", None),
        ("gatingml2_compliance/data1.fcs", None, None),
    ],
)
def test_keyword_used(shared_data, name, keyword, size):
    fcs = open_fcs(shared_data / name)
    if keyword is None:
        assert fcs.spillover is None
        return
    matrix, used = fcs.spillover
    assert used == keyword
    assert matrix.shape[0] == matrix.shape[1]
    if size is not None:
        assert matrix.shape == (size, size)
    np.testing.assert_array_equal(np.diag(matrix.to_numpy()), 1.0)
    assert any(keyword in note for note in fcs.leniencies)


@pytest.mark.shared_data
def test_stratedigm_prefers_spill_over_det_spill(shared_data):
    fcs = open_fcs(shared_data / "fcs_edge_cases" / "Stratedigm - S1400.fcs")
    assert "DET_SPILL" in fcs.keywords
    assert any("DET_SPILL also present" in note for note in fcs.leniencies)


@pytest.mark.shared_data
def test_spill_matches_flowkit_and_names_channels(shared_data):
    path = shared_data / "flowjo_workspaces" / "flowsom_68983" / "68983.fcs"
    sample = fk.Sample(path)
    reference = fk.Matrix(sample.metadata["spill"], sample.channels["pnn"].tolist())
    matrix, _ = open_fcs(path).spillover
    np.testing.assert_array_equal(matrix.to_numpy(), reference.matrix)
    assert set(matrix.columns) <= set(sample.channels["pnn"])


@pytest.mark.shared_data
def test_beckman_dfc_percentages(shared_data):
    fcs = open_fcs(shared_data / "fcs_edge_cases" / "coulter.lmd", dataset=0)
    matrix, keyword = fcs.spillover
    assert keyword == "$DFCmTOn"
    assert fcs.keywords["$DFC1TO3"] == "28.40"
    assert matrix.loc["FL1", "FL3"] == pytest.approx(0.284)
    assert matrix.to_numpy().sum() == pytest.approx(5 + 0.284)


def test_accepts_flowio_style_lowercase_keys():
    matrix, keyword = spillover_from_metadata({"spillover": "2,FL1-A,FL2-A,1,0.1,0.02,1", "p1n": "FL1-A"})
    assert keyword == "spillover"
    assert matrix.loc["FL1-A", "FL2-A"] == 0.1 and matrix.loc["FL2-A", "FL1-A"] == 0.02


def test_standard_keyword_wins_over_vendor_one():
    _, keyword = spillover_from_metadata({"SPILL": "1,A,1", "$SPILLOVER": "1,A,1"})
    assert keyword == "$SPILLOVER"


@pytest.mark.parametrize("text", ["2,A,B,1,0,0", "x,A,1", "2,A,A,1,0,0,1", "2,A,B,1,zero,0,1"])
def test_malformed_matrix_raises_with_keyword(text):
    with pytest.raises(FCSError) as info:
        spillover_from_metadata({"$SPILLOVER": text})
    assert info.value.where == "keyword $SPILLOVER"


def test_no_keyword_gives_none():
    assert spillover_from_metadata({"$P1N": "FSC-A"}) is None
