"""Read a gating source: a GatingML 2.0 file, a FlowJo workspace or an msclab protocol (:func:`read_strategy`).

A protocol is data-driven, so it is resolved on the FCS files it will gate;
the two file formats are read by :func:`msclab.flow.gating.read_strategy`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from ..errors import MsclabError
from .gating import strategy as _files
from .gating.strategy import Strategy


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
    return _files.read_strategy(p)


def _protocol_strategy(path: str | PathLike[str], fcs: list[Path], info: Mapping[str, Mapping[str, Any]]) -> Strategy:
    """Resolve an msclab protocol on every file; a file that fails is recorded, not fatal."""
    from ..io import read_fcs
    from .protocols import SampleEvents, load_protocol, resolve_protocol

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
