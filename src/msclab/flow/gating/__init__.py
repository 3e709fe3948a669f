"""Gating: gate shapes, the gate tree, the evaluation engine, GatingML and FlowJo import.

The usual path is ``strategy = read_strategy(path)`` (GatingML 2.0 XML or a FlowJo
workspace), then ``gate_events(strategy.tree_for(name), Events.from_anndata(adata, name))``
per sample.
"""

from .engine import Events, GatingResult, gate_events
from .gates import (
    FCS,
    UNCOMPENSATED,
    BooleanGate,
    Dimension,
    Divider,
    EllipsoidGate,
    PolygonGate,
    QuadrantGate,
    RectangleGate,
)
from .gatingml import read_gatingml, write_gatingml
from .strategy import Strategy, read_strategy
from .tree import ROOT, GateTree, Population
from .workspace import flowjo_counts, read_workspace

__all__ = [
    "FCS", "ROOT", "UNCOMPENSATED", "BooleanGate", "Dimension", "Divider", "EllipsoidGate", "Events",
    "GateTree", "GatingResult", "PolygonGate", "Population", "QuadrantGate", "RectangleGate", "Strategy",
    "flowjo_counts", "gate_events", "read_gatingml", "read_strategy", "read_workspace", "write_gatingml",
]
