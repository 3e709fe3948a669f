"""Read and write Gating-ML 2.0 (ISAC; Spidlen et al., Cytometry A 2015;87:683).

:func:`read_gatingml` turns a ``gating:Gating-ML`` document into a
:class:`GateTree`: ``transforms:spectrumMatrix`` -> :class:`Spillover`,
``transforms:transformation`` (``flin, flog, fasinh, logicle, hyperlog,
fratio``) -> transforms, and ``RectangleGate, PolygonGate, EllipsoidGate,
QuadrantGate, BooleanGate`` -> populations (``gating:parent_id`` gives the
parent). XML is parsed with defusedxml, so entity expansion and external
entities are refused. :func:`write_gatingml` writes a tree back; reading what
it wrote gives the same gates.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from os import PathLike
from pathlib import Path

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from ...errors import MsclabError
from ..compensation import Spillover
from ..transforms import Asinh, Hyperlog, Linear, Log, Logicle, Ratio, Transform
from .gates import (
    UNCOMPENSATED,
    BooleanGate,
    Dimension,
    Divider,
    EllipsoidGate,
    PolygonGate,
    QuadrantGate,
    RectangleGate,
)
from .tree import GateTree, Population

GATING = "http://www.isac-net.org/std/Gating-ML/v2.0/gating"
XFORMS = "http://www.isac-net.org/std/Gating-ML/v2.0/transformations"
DATATYPE = "http://www.isac-net.org/std/Gating-ML/v2.0/datatypes"

_G, _T, _D = f"{{{GATING}}}", f"{{{XFORMS}}}", f"{{{DATATYPE}}}"
_GATES = {"RectangleGate", "PolygonGate", "EllipsoidGate", "QuadrantGate", "BooleanGate"}
_SCALE_TRANSFORMS = {"flin": (Linear, "TA"), "flog": (Log, "TM"), "fasinh": (Asinh, "TMA"),
                     "logicle": (Logicle, "TWMA"), "hyperlog": (Hyperlog, "TWMA")}


class _Reader:
    """State of reading one document (for messages that name the file and gate)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, message: str, where: str | None = None, hint: str | None = None) -> MsclabError:
        return MsclabError(message, file=self.path, where=where,
                           hint=hint or "Fix the GatingML file (Gating-ML 2.0 schema) and try again.")

    def number(self, element: ET.Element, attr: str, where: str, required: bool = True) -> float | None:
        raw = element.get(attr)
        if raw is None:
            if required:
                raise self.error(f"missing attribute {_local(attr)}", where)
            return None
        try:
            return float(raw)
        except ValueError:
            raise self.error(f"{_local(attr)}={raw!r} is not a number", where) from None

    def dimension(self, element: ET.Element, where: str) -> Dimension:
        comp = element.get(f"{_G}compensation-ref", UNCOMPENSATED)
        xform = element.get(f"{_G}transformation-ref")
        fcs = element.find(f"{_D}fcs-dimension")
        new = element.find(f"{_D}new-dimension")
        if fcs is not None and fcs.get(f"{_D}name"):
            return Dimension(fcs.get(f"{_D}name"), comp, xform)
        if new is not None and new.get(f"{_D}transformation-ref"):
            return Dimension(new.get(f"{_D}transformation-ref"), comp, xform, ratio=True)
        raise self.error("a dimension names neither an fcs-dimension nor a new-dimension", where)

    def coordinates(self, element: ET.Element, where: str) -> tuple[float, ...]:
        return tuple(self.number(c, f"{_D}value", where) for c in element.findall(f"{_G}coordinate"))

    def transform(self, element: ET.Element) -> tuple[str, Transform | Ratio]:
        tid = element.get(f"{_T}id")
        where = f"transformation {tid!r}"
        if not tid or len(element) != 1:
            raise self.error("a transformation needs an id and exactly one function", where)
        fn = element[0]
        kind = _local(fn.tag)
        if kind == "fratio":
            dims = [d.get(f"{_D}name") for d in fn.findall(f"{_D}fcs-dimension")]
            if len(dims) != 2 or not all(dims):
                raise self.error("fratio needs two fcs-dimension elements", where)
            a, b, c = (self.number(fn, f"{_T}{p}", where) for p in "ABC")
            return tid, Ratio(dims[0], dims[1], a, b, c)
        if kind not in _SCALE_TRANSFORMS:
            raise self.error(f"unsupported transformation {kind!r}", where,
                             "Gating-ML 2.0 defines flin, flog, fasinh, logicle, hyperlog and fratio.")
        cls, params = _SCALE_TRANSFORMS[kind]
        kwargs = {p: self.number(fn, f"{_T}{p}", where, required=(p != "A" or kind == "flin")) for p in params}
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        try:
            return tid, cls(**kwargs)
        except ValueError as exc:
            raise self.error(str(exc), where) from None

    def matrix(self, element: ET.Element) -> tuple[str, Spillover]:
        mid = element.get(f"{_T}id")
        where = f"spectrumMatrix {mid!r}"
        names = []
        for part in ("fluorochromes", "detectors"):
            holder = element.find(f"{_T}{part}")
            if holder is None:
                raise self.error(f"spectrumMatrix without {part}", where)
            names.append([d.get(f"{_D}name") for d in holder.findall(f"{_D}fcs-dimension")])
        rows = [[self.number(c, f"{_T}value", where) for c in s.findall(f"{_T}coefficient")]
                for s in element.findall(f"{_T}spectrum")]
        if not mid:
            raise self.error("a spectrumMatrix needs an id", where)
        for i, row in enumerate(rows, start=1):
            if len(row) != len(names[1]):
                raise self.error(f"spectrum {i} has {len(row)} coefficients but the matrix names "
                                 f"{len(names[1])} detectors", where)
        return mid, Spillover(rows, tuple(names[1]), tuple(names[0]), source=f"{self.path} {where}")

    def gate(self, element: ET.Element) -> list[Population]:
        kind = _local(element.tag)
        gid = element.get(f"{_G}id")
        if not gid:
            raise self.error(f"a {kind} has no gating:id")
        where = f"gate {gid!r}"
        parent = element.get(f"{_G}parent_id")
        try:
            if kind == "QuadrantGate":
                return self.quadrants(element, gid, parent, where)
            if kind == "BooleanGate":
                shape = self.boolean(element, where)
            else:
                dims = tuple(self.dimension(d, where) for d in element.findall(f"{_G}dimension"))
                if kind == "RectangleGate":
                    bounds = tuple((self.number(d, f"{_G}min", where, False), self.number(d, f"{_G}max", where, False))
                                   for d in element.findall(f"{_G}dimension"))
                    shape = RectangleGate(dims, bounds)
                elif kind == "PolygonGate":
                    verts = tuple(self.coordinates(v, where) for v in element.findall(f"{_G}vertex"))
                    shape = PolygonGate(dims, verts)
                else:
                    shape = self.ellipsoid(element, dims, where)
        except ValueError as exc:
            raise self.error(str(exc), where) from None
        name = element.findtext(f"{_D}custom_info/{NAME_TAG}") or ""
        return [Population(gid, shape, parent, name=name.strip())]

    def ellipsoid(self, element: ET.Element, dims: tuple[Dimension, ...], where: str) -> EllipsoidGate:
        mean_el = element.find(f"{_G}mean")
        cov_el = element.find(f"{_G}covarianceMatrix")
        dist_el = element.find(f"{_G}distanceSquare")
        if mean_el is None or cov_el is None or dist_el is None:
            raise self.error("an EllipsoidGate needs mean, covarianceMatrix and distanceSquare", where)
        cov = tuple(tuple(self.number(e, f"{_D}value", where) for e in row.findall(f"{_G}entry"))
                    for row in cov_el.findall(f"{_G}row"))
        return EllipsoidGate(dims, self.coordinates(mean_el, where), cov, self.number(dist_el, f"{_D}value", where))

    def quadrants(self, element: ET.Element, gid: str, parent: str | None, where: str) -> list[Population]:
        dividers = []
        for div in element.findall(f"{_G}divider"):
            did = div.get(f"{_G}id", "")
            values = []
            for v in div.findall(f"{_G}value"):
                try:
                    values.append(float(v.text or ""))
                except ValueError:
                    raise self.error(f"divider value {v.text!r} is not a number", where) from None
            if not values:
                raise self.error(f"divider {did!r} has no gating:value", where)
            dividers.append(Divider(did, self.dimension(div, where), tuple(values)))
        quads = {}
        for q in element.findall(f"{_G}Quadrant"):
            qid = q.get(f"{_G}id")
            if not qid:
                raise self.error("a Quadrant has no gating:id", where)
            quads[qid] = {p.get(f"{_G}divider_ref", ""): self.number(p, f"{_G}location", where)
                          for p in q.findall(f"{_G}position")}
            if not quads[qid]:
                raise self.error(f"quadrant {qid!r} has no gating:position", where)
        gate = QuadrantGate(tuple(d.dimension for d in dividers), gid, tuple(dividers), quads)
        return [Population(qid, gate, parent, quadrant=qid) for qid in quads]

    def boolean(self, element: ET.Element, where: str) -> BooleanGate:
        if len(element) == 0:
            raise self.error("a BooleanGate needs an and, or or not element", where)
        ops = [child for child in element if _local(child.tag) in {"and", "or", "not"}]
        if len(ops) != 1:
            raise self.error("a BooleanGate needs exactly one and, or or not element", where)
        refs = tuple((r.get(f"{_G}ref", ""), r.get(f"{_G}use-as-complement", "false").lower() == "true")
                     for r in ops[0].findall(f"{_G}gateReference"))
        return BooleanGate(_local(ops[0].tag), refs)


#: Element inside a gate's ``data-type:custom_info`` holding the population's readable name.
NAME_TAG = "population-name"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_gatingml(path: str | PathLike[str]) -> GateTree:
    """Read a Gating-ML 2.0 file into a gate tree.

    Parameters
    ----------
    path
        The XML file.

    Raises
    ------
    MsclabError
        The file is not well-formed XML, uses entities, is not Gating-ML 2.0
        (e.g. gates wrapped in other elements), or a gate, transformation or
        reference is invalid.
    """
    p = Path(path)
    reader = _Reader(p)
    try:
        root = SafeET.parse(p, forbid_dtd=True).getroot()
    except (ET.ParseError, DefusedXmlException, ValueError) as exc:
        raise reader.error(f"not readable as XML ({exc})",
                           hint="Give a Gating-ML 2.0 XML file without a DTD or entities.") from None
    except LookupError as exc:  # an encoding Python does not know
        raise reader.error(f"not readable as XML ({exc})", "the XML declaration",
                           hint="Save the file as UTF-8 with encoding=\"UTF-8\" in its XML declaration.") from None
    except OSError as exc:
        raise reader.error(f"cannot open the file ({exc.strerror})", hint="Check the path.") from None
    if root.tag != f"{_G}Gating-ML":
        raise reader.error(f"the root element is <{_local(root.tag)}>, not a Gating-ML 2.0 <gating:Gating-ML>",
                           hint=f"Use a Gating-ML 2.0 file (namespace {GATING}).")
    tree = GateTree(source=str(p))
    gates = []
    for child in root:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions
        name = _local(child.tag)
        if child.tag == f"{_T}transformation":
            tid, xform = reader.transform(child)
            tree.transforms[tid] = xform
        elif child.tag == f"{_T}spectrumMatrix":
            mid, matrix = reader.matrix(child)
            tree.matrices[mid] = matrix
        elif child.tag.startswith(_G) and name in _GATES:
            gates.append(child)
        elif name == "custom_info":
            continue
        else:
            raise reader.error(
                f"unexpected element <{name}> directly under <gating:Gating-ML>",
                hint="Gating-ML 2.0 allows only gates, transformations, spectrumMatrix and custom_info "
                     "there; gates must not be wrapped in other elements.",
            )
    for element in gates:
        for pop in reader.gate(element):
            tree.add(pop)
    if not len(tree):
        raise reader.error("the file defines no gates")
    tree.validate()
    return tree


def write_gatingml(tree: GateTree, path: str | PathLike[str]) -> None:
    """Write a gate tree as Gating-ML 2.0 (atomically).

    Raises
    ------
    MsclabError
        A transform or gate has no Gating-ML 2.0 equivalent (FlowJo biex/log,
        complemented shapes).
    """
    from ..._files import atomic_write

    ET.register_namespace("gating", GATING)
    ET.register_namespace("transforms", XFORMS)
    ET.register_namespace("data-type", DATATYPE)
    root = ET.Element(f"{_G}Gating-ML")
    for mid, matrix in tree.matrices.items():
        root.append(_matrix_element(mid, matrix))
    for tid, xform in tree.transforms.items():
        root.append(_transform_element(tid, xform, tree))
    written: set[int] = set()
    for pop in tree:
        if isinstance(pop.gate, QuadrantGate):
            if id(pop.gate) in written:
                continue
            written.add(id(pop.gate))
        root.append(_gate_element(pop, tree))
    ET.indent(root)
    with atomic_write(path) as handle:
        handle.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        handle.write(ET.tostring(root, encoding="unicode"))
        handle.write("\n")


def _num(value: float) -> str:
    return repr(float(value))


def _matrix_element(mid: str, matrix: Spillover) -> ET.Element:
    el = ET.Element(f"{_T}spectrumMatrix", {f"{_T}id": mid})
    for part, names in (("fluorochromes", matrix.fluorochromes or matrix.detectors), ("detectors", matrix.detectors)):
        holder = ET.SubElement(el, f"{_T}{part}")
        for name in names:
            ET.SubElement(holder, f"{_D}fcs-dimension", {f"{_D}name": name})
    for row in matrix.matrix:
        spectrum = ET.SubElement(el, f"{_T}spectrum")
        for v in row:
            ET.SubElement(spectrum, f"{_T}coefficient", {f"{_T}value": _num(v)})
    return el


def _transform_element(tid: str, xform: Transform | Ratio, tree: GateTree) -> ET.Element:
    el = ET.Element(f"{_T}transformation", {f"{_T}id": tid})
    if isinstance(xform, Ratio):
        fn = ET.SubElement(el, f"{_T}fratio", {f"{_T}{p}": _num(getattr(xform, p)) for p in "ABC"})
        for name in (xform.numerator, xform.denominator):
            ET.SubElement(fn, f"{_D}fcs-dimension", {f"{_D}name": name})
        return el
    for kind, (cls, params) in _SCALE_TRANSFORMS.items():
        if type(xform) is cls:
            ET.SubElement(el, f"{_T}{kind}", {f"{_T}{p}": _num(getattr(xform, p)) for p in params})
            return el
    raise MsclabError(
        f"the transform {tid!r} ({xform.kind}) has no Gating-ML 2.0 equivalent",
        file=tree.source or None,
        hint="Gating-ML 2.0 export supports flin, flog, fasinh, logicle, hyperlog and fratio.",
    )


def _dimension_element(tag: str, dim: Dimension, attrs: dict[str, str] | None = None) -> ET.Element:
    attributes = {f"{_G}compensation-ref": dim.compensation}
    if dim.transform is not None:
        attributes[f"{_G}transformation-ref"] = dim.transform
    attributes.update(attrs or {})
    el = ET.Element(tag, attributes)
    if dim.ratio:
        ET.SubElement(el, f"{_D}new-dimension", {f"{_D}transformation-ref": dim.name})
    else:
        ET.SubElement(el, f"{_D}fcs-dimension", {f"{_D}name": dim.name})
    return el


def _gate_element(pop: Population, tree: GateTree) -> ET.Element:
    gate = pop.gate
    if getattr(gate, "complement", False):
        raise MsclabError(f"gate {pop.id!r} selects the events outside its shape, which Gating-ML 2.0 cannot express",
                          file=tree.source or None, hint="Export it as a BooleanGate 'not' of the shape instead.")
    attrs = {f"{_G}id": pop.id}
    if pop.parent is not None:
        attrs[f"{_G}parent_id"] = pop.parent
    el = ET.Element(f"{_G}{type(gate).__name__}", attrs)
    if pop.name != pop.id and not isinstance(gate, QuadrantGate):
        # The readable name of the tables ("T cells") beside the XML id ("T_cells"): reading it back restores it.
        info = ET.SubElement(el, f"{_D}custom_info")
        ET.SubElement(info, NAME_TAG).text = pop.name
    if isinstance(gate, RectangleGate):
        for dim, (lo, hi) in zip(gate.dimensions, gate.bounds):
            bounds = {}
            if lo is not None:
                bounds[f"{_G}min"] = _num(lo)
            if hi is not None:
                bounds[f"{_G}max"] = _num(hi)
            el.append(_dimension_element(f"{_G}dimension", dim, bounds))
    elif isinstance(gate, PolygonGate):
        for dim in gate.dimensions:
            el.append(_dimension_element(f"{_G}dimension", dim))
        for vertex in gate.vertices:
            _coordinates(ET.SubElement(el, f"{_G}vertex"), vertex)
    elif isinstance(gate, EllipsoidGate):
        for dim in gate.dimensions:
            el.append(_dimension_element(f"{_G}dimension", dim))
        _coordinates(ET.SubElement(el, f"{_G}mean"), gate.mean)
        cov = ET.SubElement(el, f"{_G}covarianceMatrix")
        for row in gate.covariance:
            row_el = ET.SubElement(cov, f"{_G}row")
            for v in row:
                ET.SubElement(row_el, f"{_G}entry", {f"{_D}value": _num(v)})
        ET.SubElement(el, f"{_G}distanceSquare", {f"{_D}value": _num(gate.distance_square)})
    elif isinstance(gate, QuadrantGate):
        el.set(f"{_G}id", gate.id or "Quadrants_" + "_".join(gate.quadrants))
        for div in gate.dividers:
            div_el = _dimension_element(f"{_G}divider", div.dimension, {f"{_G}id": div.id})
            for v in div.values:
                ET.SubElement(div_el, f"{_G}value").text = _num(v)
            el.append(div_el)
        for qid, positions in gate.quadrants.items():
            q_el = ET.SubElement(el, f"{_G}Quadrant", {f"{_G}id": qid})
            for ref, loc in positions.items():
                ET.SubElement(q_el, f"{_G}position", {f"{_G}divider_ref": ref, f"{_G}location": _num(loc)})
    else:
        op = ET.SubElement(el, f"{_G}{gate.op}")
        for ref, complement in gate.operands:
            attrs = {f"{_G}ref": ref}
            if complement:
                attrs[f"{_G}use-as-complement"] = "true"
            ET.SubElement(op, f"{_G}gateReference", attrs)
    return el


def _coordinates(parent: ET.Element, values) -> None:
    for v in values:
        ET.SubElement(parent, f"{_G}coordinate", {f"{_D}value": _num(v)})
