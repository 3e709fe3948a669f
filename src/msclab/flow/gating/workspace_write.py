"""Write gate trees as a FlowJo 10 workspace (``.wsp``), one sample node per FCS file.

A FlowJo workspace keeps, per sample (``<Sample>`` in ``<SampleList>``): the
FCS file (``<DataSet uri>``), one spillover matrix (``transforms:spilloverMatrix``;
gates name compensated detectors with its ``prefix``, ``Comp-``), one display
transform per channel (``<Transformations>``: ``linear``, ``log``, ``logicle``,
``biex``, ``fasinh``), the file's keywords, and the gate tree under
``<SampleNode>``: nested ``<Population>`` elements, each with its gate as
Gating-ML 2.0 (``gating:`` namespace) inside ``<Gate>``, and boolean
populations as ``<AndNode>``/``<OrNode>``/``<NotNode>`` whose ``<Dependent>``
names the operands by their path. Gate coordinates are stored in data units
(before the transform), which is how FlowJo writes them; a reader applies the
sample's transform of the channel to both the events and the coordinates.

Every gate is a sample-specific gate (``owningGroup=""``), as msclab resolves
gates per sample; the ``count`` attributes carry msclab's event counts.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np

from ...errors import MsclabError
from ..compensation import Spillover
from ..transforms import Asinh, FlowJoBiex, FlowJoLog, Linear, Logicle, Transform
from .gates import FCS, UNCOMPENSATED, BooleanGate, Dimension, PolygonGate, QuadrantGate, RectangleGate
from .gatingml import DATATYPE, GATING, XFORMS
from .tree import GateTree

_G, _T, _D = f"{{{GATING}}}", f"{{{XFORMS}}}", f"{{{DATATYPE}}}"
#: Prefix FlowJo gives compensated parameters.
COMP_PREFIX = "Comp-"
#: FlowJo's name of the matrix from the file's own spillover keyword.
ACQUISITION_MATRIX = "Acquisition-defined"
_BOOLEAN_NODES = {"and": "AndNode", "or": "OrNode", "not": "NotNode"}


@dataclass
class WorkspaceSample:
    """One FCS file and its gate tree, for :func:`write_workspace`.

    Attributes
    ----------
    name
        The sample node's name (FlowJo shows the FCS file name).
    fcs
        The FCS file (written as a ``file:`` URI).
    tree
        Its gate tree.
    channels
        The file's ``$PnN`` names.
    markers
        The ``$PnS`` of each channel (gates may name a channel by marker).
    n_events
        Events in the file (the sample node's count).
    spillover
        The file's own spillover matrix (used by ``"FCS"`` dimensions).
    keywords
        The file's TEXT keywords, copied into the workspace.
    counts
        Population path (``/A/B``) -> event count; -1 (FlowJo's "not computed")
        for a population without one.
    """

    name: str
    fcs: Path
    tree: GateTree
    channels: Sequence[str]
    markers: Sequence[str | None] = ()
    n_events: int = -1
    spillover: Spillover | None = None
    keywords: Mapping[str, str] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)


def write_workspace(samples: Sequence[WorkspaceSample], path: str | PathLike[str], group: str = "") -> None:
    """Write samples and their gate trees as one FlowJo 10 workspace (atomically).

    Parameters
    ----------
    samples
        The samples, in the order FlowJo lists them.
    path
        The ``.wsp`` file.
    group
        Name of a sample group holding every sample (e.g. the panel), besides
        FlowJo's ``All Samples``.

    Raises
    ------
    MsclabError
        A gate, transform or compensation has no FlowJo equivalent (ellipses,
        ratio dimensions, GatingML ``flog``/``hyperlog``, a complemented
        boolean operand, two transforms of one channel), naming the sample and gate.
    """
    from ..._files import atomic_write

    names = [s.name for s in samples]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise MsclabError(f"two samples are named {dupes[0]!r}", file=path,
                          hint="A FlowJo workspace needs distinct sample names (FCS file names).")
    ET.register_namespace("gating", GATING)
    ET.register_namespace("transforms", XFORMS)
    ET.register_namespace("data-type", DATATYPE)
    root = ET.Element("Workspace", {"version": "20.0", "flowJoVersion": "10.6.1", "curGroup": "All Samples"})
    groups = ET.SubElement(root, "Groups")
    ids = [str(i + 1) for i in range(len(samples))]
    _group(groups, "All Samples", "ws.group.dlog.test", ids)
    if group and group != "All Samples":
        _group(groups, group, "ws.group.dlog.undefined", ids)
    sample_list = ET.SubElement(root, "SampleList")
    for sid, sample in zip(ids, samples, strict=True):
        _Sample(sample, sid).write(sample_list)
    ET.indent(root)
    with atomic_write(path) as handle:
        handle.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        handle.write(ET.tostring(root, encoding="unicode"))
        handle.write("\n")


def _group(parent: ET.Element, name: str, role: str, sample_ids: Sequence[str]) -> None:
    node = ET.SubElement(parent, "GroupNode", {"name": name, "annotation": "", "owningGroup": name,
                                               "expanded": "1", "sortPriority": "10", "count": "-1"})
    group = ET.SubElement(node, "Group", {"name": name, "live": "1", "role": role})
    ET.SubElement(group, "Criteria")
    refs = ET.SubElement(group, "SampleRefs")
    for sid in sample_ids:
        ET.SubElement(refs, "SampleRef", {"sampleID": sid})


class _Sample:
    """Writes one ``<Sample>``: the channel map, compensation, transforms, keywords and gates."""

    def __init__(self, sample: WorkspaceSample, sample_id: str) -> None:
        self.s = sample
        self.sid = sample_id
        self.tree = sample.tree
        self.where = f"sample {sample.name!r}"
        self.by_marker = {m: c for c, m in zip(sample.channels, sample.markers) if m}
        self.matrix = self._matrix()
        self.transforms: dict[str, Transform] = {}
        self.gate_ids = {pid: f"ID{1000 + i}" for i, pid in enumerate(self.tree.populations)}

    def error(self, message: str, hint: str) -> MsclabError:
        return MsclabError(message, where=self.where, hint=hint)

    # -- channels, compensation and transforms -------------------------------------------------
    def channel(self, dim: Dimension) -> str:
        """The ``$PnN`` a dimension reads."""
        if dim.ratio:
            raise self.error(f"dimension {dim.name!r} is a ratio, which a FlowJo workspace cannot store",
                             "Gate on the channels themselves, or export Gating-ML (OUT/gates/*.xml).")
        if dim.name in self.s.channels:
            return dim.name
        if dim.name in self.by_marker:
            return self.by_marker[dim.name]
        if self.matrix is not None and self.matrix.fluorochromes and dim.name in self.matrix.fluorochromes:
            return self.matrix.detectors[self.matrix.fluorochromes.index(dim.name)]
        raise self.error(f"dimension {dim.name!r} is not a channel of {self.s.fcs.name}",
                         "Check the gate's channel names against the FCS file.")

    def _matrix(self) -> Spillover | None:
        """The sample's one spillover matrix: the file's (``FCS``) or the tree's; None if uncompensated."""
        used = {d.compensation for d in self.tree.dimensions() if not d.ratio} - {UNCOMPENSATED}
        if len(used) > 1:
            raise self.error(f"gates use several compensations ({', '.join(sorted(used))}); a FlowJo sample has one",
                             "Use one spillover matrix for every gate of the sample.")
        if not used:
            return None
        ref = used.pop()
        return self.s.spillover if ref == FCS else self.tree.matrices[ref]

    def name(self, dim: Dimension) -> str:
        """The parameter name FlowJo uses in a gate (``Comp-`` for a compensated detector)."""
        channel = self.channel(dim)
        compensated = self.matrix is not None and channel in self.matrix.detectors
        if compensated and dim.compensation == UNCOMPENSATED:
            raise self.error(f"gates read {channel} both compensated and uncompensated",
                             "A FlowJo sample gates a detector either compensated or not: use one.")
        return COMP_PREFIX + channel if compensated else channel

    def transform(self, dim: Dimension) -> Transform | None:
        """The dimension's transform, registered as its channel's (FlowJo keeps one per channel)."""
        if dim.transform is None:
            return None
        xform = self.tree.transforms[dim.transform]
        channel = self.channel(dim)
        known = self.transforms.setdefault(channel, xform)
        if known != xform:
            raise self.error(f"gates read {channel} on two different scales ({known.params()} and {xform.params()})",
                             "A FlowJo sample has one transform per channel: use one scale for the channel.")
        return xform

    def data_units(self, dim: Dimension, values: Sequence[float | None]) -> list[float | None]:
        """Gate coordinates on the transformed scale -> data units (how FlowJo stores them)."""
        xform = self.transform(dim)
        if xform is None:
            return [None if v is None else float(v) for v in values]
        finite = [v for v in values if v is not None]
        back = iter(_inverse(xform, np.asarray(finite, dtype=float), self.where).tolist())
        return [None if v is None else next(back) for v in values]

    # -- elements ------------------------------------------------------------------------------
    def write(self, parent: ET.Element) -> None:
        element = ET.SubElement(parent, "Sample")
        ET.SubElement(element, "DataSet", {"uri": self.s.fcs.resolve().as_uri(), "sampleID": self.sid})
        node = ET.Element("SampleNode", {"name": self.s.name, "annotation": "", "owningGroup": "",
                                         "expanded": "1", "sortPriority": "10", "count": str(self.s.n_events),
                                         "sampleID": self.sid})
        self._children(node, None, "")  # gates first: they register the transforms
        if self.matrix is not None:
            element.append(self._matrix_element())
        xforms = ET.SubElement(element, "Transformations")
        for channel, xform in self.transforms.items():
            xforms.append(_transform_element(xform, channel, self.where))
            if self.matrix is not None and channel in self.matrix.detectors:
                xforms.append(_transform_element(xform, COMP_PREFIX + channel, self.where))
        keywords = ET.SubElement(element, "Keywords")
        for key, value in self.s.keywords.items():
            ET.SubElement(keywords, "Keyword", {"name": str(key), "value": str(value)})
        element.append(node)

    def _matrix_element(self) -> ET.Element:
        m = self.matrix
        name = ACQUISITION_MATRIX if m is self.s.spillover else next(k for k, v in self.tree.matrices.items() if v is m)
        element = ET.Element(f"{_T}spilloverMatrix", {"spectral": "0", "prefix": COMP_PREFIX, "suffix": "",
                                                      "name": name, "editable": "0", "status": "FINALIZED",
                                                      f"{_T}id": f"{name}-{self.sid}"})
        params = ET.SubElement(element, f"{_D}parameters")
        for det in m.detectors:
            ET.SubElement(params, f"{_D}parameter", {f"{_D}name": det})
        for i, det in enumerate(m.detectors):
            row = ET.SubElement(element, f"{_T}spillover", {f"{_D}parameter": det})
            for j, other in enumerate(m.detectors):
                ET.SubElement(row, f"{_T}coefficient", {f"{_D}parameter": other,
                                                        f"{_T}value": repr(float(m.matrix[i, j]))})
        return element

    def _children(self, parent: ET.Element, parent_id: str | None, prefix: str) -> None:
        kids = [p for p in self.tree if p.parent == parent_id]
        if not kids:
            return
        subs = ET.SubElement(parent, "Subpopulations")
        for pop in kids:
            path = f"{prefix}/{pop.name}"
            attrs = {"name": pop.name, "annotation": "", "owningGroup": "", "expanded": "1",
                     "sortPriority": "10", "count": str(int(self.s.counts.get(path, -1)))}
            if isinstance(pop.gate, BooleanGate):
                node = ET.SubElement(subs, _BOOLEAN_NODES[pop.gate.op], attrs)
                deps = ET.SubElement(node, "Dependents")
                for ref, complement in pop.gate.operands:
                    if complement:
                        raise self.error(f"boolean gate {pop.name!r} uses the complement of {ref!r}, "
                                         "which FlowJo booleans cannot", "Add a NOT gate and use it instead.")
                    ET.SubElement(deps, "Dependent", {"name": self._dependent(ref, pop.name)})
            else:
                node = ET.SubElement(subs, "Population", attrs)
                gate = ET.SubElement(node, "Gate", {f"{_G}id": self.gate_ids[pop.id]})
                if parent_id is not None:
                    gate.set(f"{_G}parent_id", self.gate_ids[parent_id])
                gate.append(self._shape(pop))
            self._children(node, pop.id, path)

    def _dependent(self, ref: str, name: str) -> str:
        """A boolean operand's path as FlowJo names it (population names joined by ``/``)."""
        current: str | None = ref
        names = []
        while current is not None:
            operand = self.tree.populations[current]
            if "/" in operand.name:
                raise self.error(f"boolean gate {name!r} refers to {operand.name!r}, whose '/' FlowJo would read "
                                 "as a path separator", "Rename that population.")
            names.append(operand.name)
            current = operand.parent
        return "/".join(reversed(names))

    def _shape(self, pop) -> ET.Element:
        gate = pop.gate.quadrant_gate(pop.quadrant) if isinstance(pop.gate, QuadrantGate) else pop.gate
        gid = {f"{_G}id": self.gate_ids[pop.id]}
        if isinstance(gate, RectangleGate):
            element = ET.Element(f"{_G}RectangleGate", {"eventsInside": "0" if gate.complement else "1", **gid})
            for dim, (lo, hi) in zip(gate.dimensions, gate.bounds, strict=True):
                lo, hi = self.data_units(dim, [lo, hi])
                attrs = {f"{_G}min": repr(lo)} if lo is not None else {}
                if hi is not None:
                    attrs[f"{_G}max"] = repr(hi)
                self._dimension(element, dim, attrs)
            return element
        if isinstance(gate, PolygonGate):
            element = ET.Element(f"{_G}PolygonGate", {"eventsInside": "0" if gate.complement else "1", **gid})
            for dim in gate.dimensions:
                self._dimension(element, dim, {})
            columns = [self.data_units(dim, [v[i] for v in gate.vertices]) for i, dim in enumerate(gate.dimensions)]
            for vertex in zip(*columns, strict=True):
                v = ET.SubElement(element, f"{_G}vertex")
                for value in vertex:
                    ET.SubElement(v, f"{_G}coordinate", {f"{_D}value": repr(value)})
            return element
        raise self.error(f"gate {pop.name!r} is a {type(gate).__name__}, which msclab does not export to FlowJo",
                         "Use a polygon instead, or open the Gating-ML file (OUT/gates/*.xml) elsewhere.")

    def _dimension(self, parent: ET.Element, dim: Dimension, attrs: dict[str, str]) -> None:
        element = ET.SubElement(parent, f"{_G}dimension", attrs)
        ET.SubElement(element, f"{_D}fcs-dimension", {f"{_D}name": self.name(dim)})


def _inverse(xform: Transform, y: np.ndarray, where: str) -> np.ndarray:
    """Data values of transformed values (each transform FlowJo can store)."""
    if isinstance(xform, Linear):
        return y * (xform.T + xform.A) - xform.A
    if isinstance(xform, Logicle):
        return xform.inverse(y)
    if isinstance(xform, Asinh):
        ln10 = math.log(10.0)
        return np.sinh(y * (xform.M + xform.A) * ln10 - xform.A * ln10) * xform.T / math.sinh(xform.M * ln10)
    if isinstance(xform, FlowJoLog):
        return 10.0 ** (y * xform.decades + math.log10(xform.offset))
    if isinstance(xform, FlowJoBiex):
        data_values, channels = xform._lut
        return np.interp(y, channels, data_values)
    raise MsclabError(f"the {type(xform).__name__} transform has no FlowJo workspace equivalent", where=where,
                      hint="FlowJo stores linear, log, logicle, biex and arcsinh scales; use one of them.")


def _transform_element(xform: Transform, channel: str, where: str) -> ET.Element:
    if isinstance(xform, Linear):
        attrs = {f"{_T}minRange": repr(xform.A), f"{_T}maxRange": repr(xform.T), "gain": "1"}
        tag = "linear"
    elif isinstance(xform, Logicle):
        attrs = {f"{_T}length": "256", f"{_T}T": repr(xform.T), f"{_T}W": repr(xform.W),
                 f"{_T}M": repr(xform.M), f"{_T}A": repr(xform.A)}
        tag = "logicle"
    elif isinstance(xform, Asinh):
        attrs = {f"{_T}length": "256", f"{_T}maxRange": repr(xform.T), f"{_T}T": repr(xform.T),
                 f"{_T}M": repr(xform.M), f"{_T}A": repr(xform.A), f"{_T}W": "0"}
        tag = "fasinh"
    elif isinstance(xform, FlowJoLog):
        attrs = {f"{_T}offset": repr(xform.offset), f"{_T}decades": repr(xform.decades)}
        tag = "log"
    elif isinstance(xform, FlowJoBiex):
        attrs = {f"{_T}length": "256", f"{_T}maxRange": repr(xform.max_value), f"{_T}neg": repr(xform.negative),
                 f"{_T}width": repr(xform.width), f"{_T}pos": repr(xform.positive)}
        tag = "biex"
    else:
        raise MsclabError(f"the {type(xform).__name__} transform has no FlowJo workspace equivalent", where=where,
                          hint="FlowJo stores linear, log, logicle, biex and arcsinh scales; use one of them.")
    element = ET.Element(f"{_T}{tag}", attrs)
    ET.SubElement(element, f"{_D}parameter", {f"{_D}name": channel})
    return element
