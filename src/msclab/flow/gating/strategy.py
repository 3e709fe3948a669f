"""Load a gating strategy file (GatingML 2.0 or FlowJo workspace) and pick each sample's tree."""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

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


def read_strategy(path: str | PathLike[str]) -> Strategy:
    """Read a GatingML 2.0 XML file or a FlowJo ``.wsp`` workspace.

    The kind of XML is decided by the root element (``gating:Gating-ML`` or
    ``Workspace``), not by the file extension. msclab protocols, which are
    resolved on the files, are read by :func:`msclab.flow.read_strategy`.
    """
    p = Path(path)
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
