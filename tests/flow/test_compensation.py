"""Spillover matrices: from single-stain controls (flowCore compref1), files and FCS keywords."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flowutils import compensate as fu_compensate

from msclab.errors import MsclabError
from msclab.flow.compensation import (
    Spillover,
    read_control_match,
    read_spillover,
    spillover_from_anndata,
    spillover_from_controls,
)
from msclab.io import read_fcs

COMPDATA = "fcs_real/flowcore_compdata"
DETECTORS = ["FL1-H", "FL2-H", "FL3-H", "FL4-H"]


@pytest.mark.shared_data
def test_controls_reproduce_flowcore_compref1(shared_data: Path) -> None:
    folder = shared_data / COMPDATA
    match = read_control_match(folder / "comp_match")
    controls, unstained = {}, None
    for filename, channel in match.items():
        adata = read_fcs(folder / "data" / filename)
        events = np.asarray(adata[:, DETECTORS].X, dtype=float)
        if channel == "unstained":
            unstained = events
        else:
            controls[channel] = events
    computed = spillover_from_controls(controls, unstained, DETECTORS)
    reference = read_spillover(folder / "compref1")
    assert reference.detectors == tuple(DETECTORS)
    np.testing.assert_allclose(computed.matrix, reference.matrix, rtol=0, atol=1e-6)


@pytest.mark.shared_data
def test_flowjo_text_matrix(shared_data: Path) -> None:
    matrix = read_spillover(shared_data / COMPDATA / "compmatrix")
    assert matrix.detectors == tuple(DETECTORS)
    assert matrix.matrix[0].tolist() == [1, 0.24, 0.032, 1.13e-3]
    assert matrix.matrix[3].tolist() == [7.95e-4, 9.95e-4, 3.23e-3, 1]


@pytest.mark.shared_data
def test_csv_with_comment_header(shared_data: Path) -> None:
    matrix = read_spillover(shared_data / "flowjo_workspaces/flowkit_8_color_ICS/den_comp.csv")
    assert len(matrix.detectors) == 8 and matrix.detectors[0] == "TNFa FITC FLR-A"
    np.testing.assert_array_equal(np.diag(matrix.matrix), 1.0)


@pytest.mark.shared_data
def test_external_csv_compensates_like_flowutils(shared_data: Path) -> None:
    folder = shared_data / "fcs_real/flowkit_comp"
    adata = read_fcs(folder / "test_comp_example.fcs")
    matrix = read_spillover(folder / "comp_complete_example.csv")
    channels = list(adata.var_names)
    data = np.asarray(adata.X, dtype=np.float64)
    ours = matrix.compensate(data, channels)
    assert ours.dtype == np.float32
    idx = [channels.index(d) for d in matrix.detectors]
    reference = fu_compensate.compensate(data, matrix.matrix, idx)
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-2)
    untouched = [i for i in range(len(channels)) if i not in idx]
    np.testing.assert_array_equal(ours[:, untouched], data[:, untouched].astype(np.float32))


@pytest.mark.shared_data
def test_keyword_spillover_via_reader(shared_data: Path) -> None:
    adata = read_fcs(shared_data / "flowjo_workspaces/flowsom_68983/68983.fcs")
    matrix = spillover_from_anndata(adata)
    assert matrix is not None and len(matrix.detectors) == 11 and "SPILL" in matrix.source
    assert spillover_from_anndata(read_fcs(shared_data / "gatingml2_compliance/data1.fcs")) is None


def test_inverse_is_computed_once() -> None:
    matrix = Spillover(np.array([[1.0, 0.1], [0.2, 1.0]]), ("A", "B"))
    assert matrix.inverse is matrix.inverse
    np.testing.assert_allclose(matrix.inverse @ matrix.matrix, np.eye(2), atol=1e-15)


def test_bad_matrices_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MsclabError, match="square"):
        Spillover(np.ones((2, 3)), ("A", "B"))
    with pytest.raises(MsclabError, match="singular"):
        _ = Spillover(np.ones((2, 2)), ("A", "B")).inverse
    with pytest.raises(MsclabError, match="detectors the data does not have: B"):
        Spillover(np.eye(2), ("A", "B")).compensate(np.zeros((3, 1)), ["A"])
    bad = tmp_path / "m.csv"
    bad.write_text("A,B\n1,x\n0,1\n")
    with pytest.raises(MsclabError, match="non-numeric"):
        read_spillover(bad)
