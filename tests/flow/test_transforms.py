"""Transforms agree with the reference implementations (flowutils C code, FlowKit's FlowJo biex).

Logicle's fast path (:class:`LogicleTable`, cubic Hermite pieces) is compared
with the Newton solver (:meth:`Logicle.solve`), with flowutils, with the
analytic interpolation error bound, and on the GatingML 2.0 compliance gates
(identical memberships to the solver and to the suite's truth).
"""

from __future__ import annotations

import numpy as np
import pytest
from flowkit import transforms as fk_transforms
from flowutils import transforms as fu

from msclab.flow import transforms as transforms_module
from msclab.flow.transforms import (
    TABLE_TOLERANCE,
    Asinh,
    ChannelInfo,
    FlowJoBiex,
    Hyperlog,
    Linear,
    Log,
    Logicle,
    LogicleTable,
    default_transform,
)

VALUES = np.concatenate([
    np.random.default_rng(7).normal(0, 2000, 20000),
    np.random.default_rng(8).lognormal(6, 3, 20000),
    [0.0, 1e-3, -1e-3, 262144.0, 5e6, -5e6],
])


@pytest.mark.parametrize("params", [(262144, 0.5, 4.5, 0), (10000, 0.5, 4.5, 0), (10000, 1, 4.5, 1),
                                    (10000, 0.5, 4.5, -0.5), (1000, 0.25, 3, 0.5)])
def test_logicle_matches_flowutils(params) -> None:
    t, w, m, a = params
    reference = fu.logicle(VALUES, None, t=t, m=m, w=w, a=a)
    np.testing.assert_allclose(Logicle(T=t, W=w, M=m, A=a).apply(VALUES), reference, rtol=0, atol=1e-12)
    np.testing.assert_allclose(Logicle(T=t, W=w, M=m, A=a).apply(VALUES.astype(np.float32)),
                               fu.logicle(VALUES.astype(np.float32).astype(float), None, t=t, m=m, w=w, a=a),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("params", [(262144, 0.5, 4.5, 0), (10000, 1, 4.5, 1), (1000, 0.25, 3, 0.5),
                                    (262144, 0, 4.5, 0), (262144, 2.25, 4.5, 0), (10, 0.5, 1, 0)])
def test_logicle_table_within_its_bound_of_the_solver(params) -> None:
    t, w, m, a = params
    logicle = Logicle(T=t, W=w, M=m, A=a)
    table = LogicleTable(logicle)
    assert table.error <= 1e-14
    if (t, w, m, a) == (262144, 0.5, 4.5, 0):
        # cubic Hermite error <= h^4/384 max|y|, with y = 6/(b x^4) on the log part and h <= x/1024:
        # 6/(384 b) 2^-40, plus a few units of rounding of values near 1 (LogicleTable docstring)
        b = (m + a) * np.log(10)
        assert table.error <= 6 / (384 * b) * 2.0**-40 + 8 * np.finfo(float).eps
    rng = np.random.default_rng(11)
    edges = np.ldexp(1.0 + rng.integers(0, 1024, 5000) / 1024, rng.integers(-30, 25, 5000))
    near_edges = np.concatenate([edges, np.nextafter(edges, 0), np.nextafter(edges, np.inf)])
    values = np.concatenate([VALUES, near_edges, -near_edges, [table.top, -table.top, 1e300, 5e-324, -0.0]])
    fast, solved = logicle.apply(values), logicle.solve(values)
    assert np.abs(fast - solved).max() <= TABLE_TOLERANCE
    scale = np.abs(values) <= table.top  # flowutils gives -1 where its iteration fails, e.g. at 1e300
    reference = fu.logicle(values[scale], None, t=t, m=m, w=w, a=a) if w > 0 else solved[scale]
    np.testing.assert_allclose(fast[scale], reference, rtol=0, atol=TABLE_TOLERANCE)
    # monotone (as the scale must be) to rounding, across cell edges too; the solver is so to the same 4e-16
    assert np.diff(logicle.apply(np.sort(values))).min() >= -1e-15


def test_logicle_nonfinite_values() -> None:
    logicle = Logicle(T=262144, W=0.5, M=4.5)
    out = logicle.apply(np.array([np.nan, np.inf, -np.inf, 1000.0]))
    assert np.isnan(out[0]) and out[1] == np.inf and out[2] == -np.inf
    assert out[3] == pytest.approx(logicle.solve(np.array([1000.0]))[0], abs=1e-15)


def test_logicle_inverse_round_trips() -> None:
    logicle = Logicle(T=262144, W=0.5, M=4.5)
    np.testing.assert_allclose(logicle.inverse(logicle.apply(VALUES)), VALUES, rtol=1e-9, atol=1e-6)


def test_logicle_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="invalid logicle parameters"):
        Logicle(T=1000, W=3, M=4.5)


def test_hyperlog_and_asinh_match_flowutils() -> None:
    np.testing.assert_allclose(Hyperlog(T=10000, W=1, M=4.5, A=0).apply(VALUES),
                               fu.hyperlog(VALUES, None, t=10000, m=4.5, w=1, a=0), atol=1e-12)
    np.testing.assert_allclose(Asinh(T=10000, M=4, A=1).apply(VALUES),
                               fu.asinh(VALUES, None, t=10000, m=4, a=1), atol=1e-12)


@pytest.mark.parametrize("width", [-10.0, -100.0, -1000.0])
def test_flowjo_biex_matches_flowkit(width: float) -> None:
    ref = fk_transforms.WSPBiexTransform(negative=0.0, width=width, positive=4.418539922, max_value=262144.0)
    ours = FlowJoBiex(negative=0.0, width=width, positive=4.418539922, max_value=262144.0)
    np.testing.assert_allclose(ours.apply(VALUES), ref.apply(VALUES), atol=1e-9)


def test_gatingml_definitions_at_top_of_scale() -> None:
    # every GatingML 2.0 scale maps T to 1 (flin, flog, fasinh, logicle by definition)
    for xform in (Linear(T=1000, A=10), Log(T=1000, M=3), Asinh(T=1000, M=4, A=1), Logicle(T=1000, W=0.5, M=4)):
        assert xform.apply(np.array([1000.0]))[0] == pytest.approx(1.0, abs=1e-12)
    assert Linear(T=1000, A=0).params() == {"kind": "flin", "T": 1000, "A": 0}


def test_defaults_per_detector() -> None:
    assert default_transform(ChannelInfo("FSC-A", 262144, "scatter")) == Linear(T=262144)
    assert default_transform(ChannelInfo("Time", 10000, "time")) == Linear(T=10000)
    assert default_transform(ChannelInfo("PE-A", 262144, "fluorescence")) == Logicle(T=262144, W=0.5, M=4.5)
    assert default_transform(ChannelInfo("FL1-H", 10000.0, None)).params()["kind"] == "logicle"


@pytest.mark.shared_data
@pytest.mark.parametrize("xml", ["gml_matrix_transform_logicle_rect1_gate.xml", "gml_all_gates.xml",
                                 "gml_matrix_transform_logicle_range4c_gate.xml"])
def test_logicle_table_gives_the_solvers_gate_decisions(shared_data, monkeypatch, xml) -> None:
    # same memberships with the table and with the Newton solver on the GatingML 2.0 suite
    from msclab.flow.gating import Events, gate_events, read_gatingml
    from msclab.io import read_fcs

    events = Events.from_anndata(read_fcs(shared_data / "gatingml2_compliance" / "data1.fcs"), "data1.fcs")
    tree = read_gatingml(shared_data / "gatingml2_compliance" / "gml" / xml)
    assert any(isinstance(t, Logicle) for t in tree.transforms.values())
    fast = gate_events(tree, events).membership
    monkeypatch.setattr(transforms_module, "_logicle_table", lambda logicle: None)
    solved = gate_events(tree, events).membership
    assert fast.keys() == solved.keys()
    for gate_id in fast:
        np.testing.assert_array_equal(fast[gate_id], solved[gate_id], err_msg=gate_id)
