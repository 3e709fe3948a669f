"""Transforms agree with the reference implementations (flowutils C code, FlowKit's FlowJo biex)."""

from __future__ import annotations

import numpy as np
import pytest
from flowkit import transforms as fk_transforms
from flowutils import transforms as fu

from msclab.flow.transforms import (
    Asinh,
    ChannelInfo,
    FlowJoBiex,
    Hyperlog,
    Linear,
    Log,
    Logicle,
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
