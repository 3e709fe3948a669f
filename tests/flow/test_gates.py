"""Gate semantics as Gating-ML 2.0 defines them, on hand-made events."""

from __future__ import annotations

import numpy as np
import pytest

from msclab.errors import MsclabError
from msclab.flow.compensation import Spillover
from msclab.flow.gating import (
    FCS,
    BooleanGate,
    Dimension,
    Divider,
    EllipsoidGate,
    Events,
    GateTree,
    Population,
    QuadrantGate,
    RectangleGate,
    gate_events,
)

X, Y = Dimension("X"), Dimension("Y")
EVENTS = Events(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 0.5]], dtype=np.float32), ["X", "Y"], sample_id="s")


def _tree(*pops: Population, **kwargs) -> GateTree:
    tree = GateTree(**kwargs)
    for pop in pops:
        tree.add(pop)
    return tree


def test_rectangle_min_inclusive_max_exclusive() -> None:
    tree = _tree(Population("R", RectangleGate((X,), ((1.0, 2.0),))))
    assert gate_events(tree, EVENTS).membership["R"].tolist() == [False, True, False, False]


def test_ellipsoid_boundary_is_inside() -> None:
    tree = _tree(Population("E", EllipsoidGate((X, Y), (0.0, 0.0), ((1.0, 0.0), (0.0, 1.0)), 2.0)))
    assert gate_events(tree, EVENTS).membership["E"].tolist() == [True, True, False, False]


def test_quadrants_children_and_booleans() -> None:
    quad = QuadrantGate((X, Y), "Q", (Divider("dx", X, (1.5,)), Divider("dy", Y, (0.75,))),
                        {"lo": {"dx": 0.0, "dy": 0.0}, "hi": {"dx": 5.0, "dy": 5.0}, "xhi": {"dx": 5.0}})
    tree = _tree(
        Population("lo", quad, quadrant="lo"), Population("hi", quad, quadrant="hi"), Population("xhi", quad, quadrant="xhi"),
        Population("notlo", BooleanGate("not", (("lo", False),))),
        Population("both", BooleanGate("and", (("xhi", False), ("hi", True)))),
        Population("child", RectangleGate((Y,), ((None, 1.0),)), parent="xhi"),
    )
    m = gate_events(tree, EVENTS).membership
    assert m["lo"].tolist() == [True, False, False, False]
    assert m["hi"].tolist() == [False, False, True, False]
    assert m["xhi"].tolist() == [False, False, True, True]
    assert m["notlo"].tolist() == [False, True, True, True]
    assert m["both"].tolist() == [False, False, False, True]
    assert m["child"].tolist() == [False, False, False, True]
    assert tree.path("child") == "/xhi/child" and tree.parent_path("lo") == "root"


def test_fcs_compensation_without_keyword_is_uncompensated() -> None:
    gate = RectangleGate((Dimension("X", FCS),), ((1.0, None),))
    assert gate_events(_tree(Population("R", gate)), EVENTS).membership["R"].tolist() == [False, True, True, True]
    spill = Spillover(np.array([[1.0, 0.5], [0.0, 1.0]]), ("X", "Y"))
    compensated = Events(EVENTS.data, EVENTS.channels, spillover=spill, sample_id="s")
    # compensated Y = Y - 0.5 X: events (1,1) -> 0.5, (2,2) -> 1.0, (3,0.5) -> -1.0
    gate_y = RectangleGate((Dimension("Y", FCS),), ((0.9, None),))
    assert gate_events(_tree(Population("R", gate_y)), compensated).membership["R"].tolist() == [False, False, True, False]


def test_bad_trees_are_refused() -> None:
    with pytest.raises(MsclabError, match="depends on itself"):
        gate_events(_tree(Population("A", RectangleGate((X,), ((0, None),)), parent="B"),
                          Population("B", RectangleGate((X,), ((0, None),)), parent="A")), EVENTS)
    with pytest.raises(MsclabError, match="channel 'Z'"):
        gate_events(_tree(Population("A", RectangleGate((Dimension("Z"),), ((0, None),)))), EVENTS)
    with pytest.raises(MsclabError, match="undefined transformation"):
        gate_events(_tree(Population("A", RectangleGate((Dimension("X", transform="t"),), ((0, None),)))), EVENTS)
    with pytest.raises(MsclabError, match="used twice"):
        _tree(Population("A", RectangleGate((X,), ((0, None),))), Population("A", RectangleGate((X,), ((0, None),))))
