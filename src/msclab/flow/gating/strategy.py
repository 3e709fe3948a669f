"""Load a gating strategy file (GatingML 2.0 or FlowJo workspace) and pick each sample's tree."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from ...errors import MsclabError
from .gatingml import read_gatingml
from .tree import GateTree
from .workspace import read_workspace


@dataclass
class Strategy:
    """A gating strategy: one tree for every sample (GatingML) or one per sample (FlowJo).

    Attributes
    ----------
    path
        The strategy file.
    kind
        ``"gatingml"``, ``"flowjo"`` or ``"protocol"``.
    trees
        Sample name -> tree (FlowJo, or a protocol resolved on each file), or
        ``{"*": tree}`` (GatingML).
    failures
        Sample name -> why a protocol could not be resolved on it.
    """

    path: Path
    kind: str
    trees: dict[str, GateTree]
    failures: dict[str, str] = field(default_factory=dict)

    def tree_for(self, sample_id: str) -> GateTree:
        """Return the gate tree for a sample (FlowJo: the workspace sample of that file name)."""
        if "*" in self.trees:
            return self.trees["*"]
        if sample_id in self.trees:
            return self.trees[sample_id]
        if sample_id in self.failures:
            raise MsclabError(f"the protocol could not be resolved on this sample: {self.failures[sample_id]}",
                              file=self.path)
        raise MsclabError(
            f"the workspace has no sample named {sample_id!r}",
            file=self.path,
            hint=f"Its samples are: {', '.join(self.trees)}. Give the FCS files the workspace was made with.",
        )


def read_strategy(path: str | PathLike[str], fcs: Iterable[str | PathLike[str]] = (),
                  info: Mapping[str, Mapping[str, Any]] | None = None) -> Strategy:
    """Read a GatingML 2.0 XML file, a FlowJo ``.wsp`` workspace or an msclab protocol.

    The kind of XML is decided by the root element (``gating:Gating-ML`` or
    ``Workspace``), not by the file extension. A protocol (``.yaml``/``.yml``,
    or a built-in protocol name such as ``treg``) is data-driven, so it is
    resolved on the given FCS files together (markers from their ``$PnS``)
    into one concrete tree per file. ``info`` (file name -> samplesheet row:
    donor, plate, control_type, control_for ...) lets thresholds come from the
    matching FMO or unstimulated control among the files.
    """
    p = Path(path)
    if p.suffix.lower() in {".yaml", ".yml"} or (not p.exists() and p.suffix == "" and str(path).isidentifier()):
        return _protocol_strategy(path, [Path(f) for f in fcs], info or {})
    if not p.is_file():
        raise MsclabError("the gating strategy file does not exist", file=p, hint="Check the --strategy path.")
    with open(p, "rb") as handle:
        head = handle.read(4096)
    if b"<Workspace" in head:
        return Strategy(p, "flowjo", read_workspace(p))
    if b"Gating-ML" in head:
        return Strategy(p, "gatingml", {"*": read_gatingml(p)})
    raise MsclabError(
        "not a GatingML 2.0 file or a FlowJo workspace",
        file=p,
        hint="Give a GatingML 2.0 XML file (root <gating:Gating-ML>) or a FlowJo 10 .wsp file.",
    )


def _protocol_strategy(path: str | PathLike[str], fcs: list[Path], info: Mapping[str, Mapping[str, Any]]) -> Strategy:
    """Resolve an msclab protocol on every file; a file that fails is recorded, not fatal."""
    from ...io import read_fcs
    from ..protocols import SampleEvents, load_protocol, resolve_protocol

    protocol = load_protocol(str(path))
    samples, failures = {}, {}
    for file in fcs:
        try:
            samples[file.name] = SampleEvents.from_anndata(read_fcs(file), file.name, info=info.get(file.name),
                                                           scale=protocol.transforms)
        except MsclabError as exc:
            failures[file.name] = str(exc)
    resolution = resolve_protocol(protocol, samples)
    failures.update(resolution.failures)
    trees = {sid: rs.tree for sid, rs in resolution.samples.items()}
    return Strategy(Path(path), "protocol", trees, failures)
