"""Import FlowJo 10 workspaces (``.wsp``) as msclab gate trees.

The workspace is parsed by FlowKit (:func:`flowkit.parse_wsp`: sample gate
trees, per-sample compensation matrices and FlowJo transforms, ellipses
already turned into polygons), then converted to :class:`GateTree`, one per
sample, which msclab's own engine evaluates. The file is first checked with
defusedxml so a workspace with entities or a DTD is refused before FlowKit's
parser sees it. FlowJo's own counts (the ``count=`` attributes) are read by
:func:`flowjo_counts`.
"""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from os import PathLike
from pathlib import Path

import defusedxml.ElementTree as SafeET
import pandas as pd
from defusedxml import DefusedXmlException

from ...errors import MsclabError
from ..compensation import Spillover
from ..transforms import (
    Asinh,
    FlowJoBiex,
    FlowJoLog,
    Hyperlog,
    Linear,
    Log,
    Logicle,
    Ratio,
    Transform,
)
from .gates import UNCOMPENSATED, BooleanGate, Dimension, EllipsoidGate, PolygonGate, RectangleGate
from .tree import GateTree, Population

_POPULATION_TAGS = {"Population", "AndNode", "OrNode", "NotNode"}
_COUNT = re.compile(r"-?[0-9]{1,18}")


def _parse_safely(path: Path) -> ET.Element:
    try:
        return SafeET.parse(path, forbid_dtd=True).getroot()
    except (ET.ParseError, DefusedXmlException, ValueError) as exc:
        raise MsclabError(f"not readable as a FlowJo workspace ({exc})", file=path,
                          hint="Give a FlowJo 10 .wsp file (XML without a DTD or entities).") from None
    except LookupError as exc:  # an encoding Python does not know
        raise MsclabError(f"not readable as a FlowJo workspace ({exc})", file=path, where="the XML declaration",
                          hint="Open and re-save it in FlowJo 10 (workspaces are UTF-8).") from None
    except OSError as exc:
        raise MsclabError(f"cannot open the workspace ({exc.strerror})", file=path, hint="Check the path.") from None


def read_workspace(path: str | PathLike[str]) -> dict[str, GateTree]:
    """Read a FlowJo workspace: sample name (the FCS file name) -> its gate tree.

    Parameters
    ----------
    path
        The ``.wsp`` file.

    Raises
    ------
    MsclabError
        The file is not a FlowJo 10 workspace or uses a gate or transform msclab
        cannot evaluate.
    """
    import flowkit as fk

    p = Path(path)
    root = _parse_safely(p)
    if root.tag != "Workspace":
        raise MsclabError(f"the root element is <{root.tag}>, not a FlowJo <Workspace>", file=p,
                          hint="Give a workspace saved by FlowJo 10.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = fk.parse_wsp(str(p))
    except Exception as exc:  # FlowKit raises many types for unsupported content
        raise MsclabError(f"FlowKit could not parse the workspace ({type(exc).__name__}: {exc})", file=p,
                          hint="Open and re-save it in FlowJo 10, or export the gates as GatingML 2.0.") from exc
    trees = {}
    for sample_id, sample in data["samples"].items():
        trees[sample_id] = _convert(sample["gating_strategy"], f"{p} sample {sample_id}")
    if not trees:
        raise MsclabError("the workspace has no samples", file=p, hint="Add the samples in FlowJo and save again.")
    return trees


def _convert(strategy, source: str) -> GateTree:
    """Convert a FlowKit GatingStrategy into a GateTree."""
    tree = GateTree(source=source)
    for tid, xform in strategy.transformations.items():
        tree.transforms[tid] = _transform(xform, tid, source)
    for mid, matrix in strategy.comp_matrices.items():
        tree.matrices[mid] = Spillover(matrix.matrix, tuple(matrix.detectors), source=f"{source} matrix {mid}")
    gate_ids = strategy.get_gate_ids()
    names = [name for name, _ in gate_ids]
    path_to_id: dict[tuple[str, ...], str] = {}
    for name, path in gate_ids:
        full = tuple(path) + (name,)
        path_to_id[full] = name if names.count(name) == 1 else "/" + "/".join(full[1:])
    for name, path in gate_ids:
        gate = strategy.get_gate(name, gate_path=path)
        parent = path_to_id.get(tuple(path)) if len(path) > 1 else None
        pid = path_to_id[tuple(path) + (name,)]
        tree.add(Population(pid, _gate(gate, path_to_id, source), parent, name=name))
    tree.validate()
    return tree


def _dimension(dim) -> Dimension:
    comp = dim.compensation_ref
    if comp in (None, "uncompensated"):
        comp = UNCOMPENSATED
    return Dimension(dim.id, comp, dim.transformation_ref)


def _gate(gate, path_to_id: dict[tuple[str, ...], str], source: str):
    from flowkit import gates as fkg

    complement = bool(getattr(gate, "use_complement", False))
    if isinstance(gate, fkg.BooleanGate):
        operands = tuple((path_to_id[tuple(ref["path"]) + (ref["ref"],)], bool(ref["complement"]))
                         for ref in gate.gate_refs)
        return BooleanGate(gate.type, operands)
    dims = tuple(_dimension(d) for d in gate.dimensions)
    if isinstance(gate, fkg.RectangleGate):
        return RectangleGate(dims, tuple((d.min, d.max) for d in gate.dimensions), complement)
    if isinstance(gate, fkg.PolygonGate):
        return PolygonGate(dims, tuple(tuple(float(c) for c in v) for v in gate.vertices), complement)
    if isinstance(gate, fkg.EllipsoidGate):
        return EllipsoidGate(dims, tuple(gate.coordinates), tuple(tuple(r) for r in gate.covariance_matrix),
                             float(gate.distance_square))
    raise MsclabError(f"gate {gate.gate_name!r} is a {type(gate).__name__}, which msclab cannot import from FlowJo",
                      where=source, hint="Redraw it as a rectangle, polygon, ellipse or boolean gate.")


def _transform(xform, tid: str, source: str) -> Transform | Ratio:
    from flowkit import transforms as fkt

    if isinstance(xform, fkt.WSPBiexTransform):
        return FlowJoBiex(negative=xform.negative, width=xform.width, positive=xform.positive,
                          max_value=xform.max_value)
    if isinstance(xform, fkt.WSPLogTransform):
        return FlowJoLog(offset=xform.offset, decades=xform.decades)
    if isinstance(xform, fkt.LinearTransform):
        return Linear(T=xform.param_t, A=xform.param_a)
    if isinstance(xform, fkt.LogTransform):
        return Log(T=xform.param_t, M=xform.param_m)
    if isinstance(xform, fkt.AsinhTransform):
        return Asinh(T=xform.param_t, M=xform.param_m, A=xform.param_a)
    if isinstance(xform, fkt.LogicleTransform):
        return Logicle(T=xform.param_t, W=xform.param_w, M=xform.param_m, A=xform.param_a)
    if isinstance(xform, fkt.HyperlogTransform):
        return Hyperlog(T=xform.param_t, W=xform.param_w, M=xform.param_m, A=xform.param_a)
    if isinstance(xform, fkt.RatioTransform):
        return Ratio(xform.dimensions[0], xform.dimensions[1], xform.param_a, xform.param_b, xform.param_c)
    raise MsclabError(f"transform {tid!r} ({type(xform).__name__}) is not supported", where=source)


def flowjo_counts(path: str | PathLike[str]) -> pd.DataFrame:
    """Return the event counts FlowJo stored in a workspace.

    Columns ``sample_id`` (the SampleNode name), ``population`` (full path as
    in msclab, ``/A/B``; the sample itself is ``/``) and ``count``. Group
    templates are skipped; FlowJo writes ``-1`` or ``0`` where it never
    computed a count, so check before using them as references.
    """
    p = Path(path)
    root = _parse_safely(p)
    rows = []

    def walk(node: ET.Element, prefix: str, sample: str) -> None:
        subs = node.find("Subpopulations")
        if subs is None:
            return
        for child in subs:
            if child.tag not in _POPULATION_TAGS:
                continue
            path_ = f"{prefix}/{child.get('name', '')}"
            rows.append({"sample_id": sample, "population": path_, "count": _count(child, p, sample, path_)})
            walk(child, path_, sample)

    for sample_node in root.iter("SampleNode"):
        sample = sample_node.get("name", "")
        rows.append({"sample_id": sample, "population": "/", "count": _count(sample_node, p, sample, "/")})
        walk(sample_node, "", sample)
    return pd.DataFrame(rows, columns=["sample_id", "population", "count"])


def _count(node: ET.Element, path: Path, sample: str, population: str) -> int:
    """A node's ``count`` attribute; -1 when absent, as FlowJo writes for a count it never computed."""
    text = node.get("count", "-1").strip()
    if not _COUNT.fullmatch(text):
        raise MsclabError(f"count={text[:40]!r} is not a whole number", file=path,
                          where=f"sample {sample!r}, population {population!r}",
                          hint="Open and re-save the workspace in FlowJo 10.")
    return int(text)
