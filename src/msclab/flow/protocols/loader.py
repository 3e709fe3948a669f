"""Find and load protocol YAML files: built-in names or paths, with ``include`` expanded."""

from __future__ import annotations

from importlib import resources
from os import PathLike
from pathlib import Path

import yaml
from pydantic import ValidationError

from ...errors import MsclabError
from .schema import Protocol

_BUILTIN = "msclab.flow.protocols.builtin"


def builtin_protocols() -> list[str]:
    """Return the names of the shipped protocols."""
    folder = resources.files(_BUILTIN)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def is_protocol_file(path: str | PathLike[str]) -> bool:
    """Return True when ``path`` looks like a protocol YAML (by extension)."""
    return Path(path).suffix.lower() in {".yaml", ".yml"}


#: Suffixes of the gating-strategy files a panel may name instead of a protocol (GatingML 2.0, FlowJo workspace).
STRATEGY_SUFFIXES = frozenset({".xml", ".wsp"})


def is_strategy_file(protocol: str | None) -> bool:
    """Whether a panel's ``protocol`` names a GatingML or FlowJo file rather than an msclab protocol."""
    return protocol is not None and Path(protocol).suffix.lower() in STRATEGY_SUFFIXES


def load_protocol(name_or_path: str | PathLike[str], *, base: Path | None = None) -> Protocol:
    """Load a protocol by built-in name (``treg``) or YAML path.

    Parameters
    ----------
    name_or_path
        A built-in protocol name or a path to a protocol YAML.
    base
        Folder relative paths are resolved against (the experiment's folder).

    Returns
    -------
    Protocol
        With the gates of every ``include`` placed first.

    Raises
    ------
    MsclabError
        Unknown name, unreadable YAML, a schema violation or a bad gate tree.
    """
    return _load(str(name_or_path), base, ())


def _load(ref: str, base: Path | None, chain: tuple[str, ...]) -> Protocol:
    if ref in chain:
        raise MsclabError(f"protocol {ref!r} includes itself ({' -> '.join((*chain, ref))})",
                          hint="Remove the circular include.")
    text, source = _read(ref, base)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MsclabError(f"not valid YAML ({exc})", file=source, hint="Fix the YAML syntax.") from None
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise MsclabError(f"not a valid msclab protocol: {problems}", file=source,
                          hint="See docs/protocols.md for the protocol fields.") from None
    if protocol.include:
        included = [g for inc in protocol.include for g in _load(inc, base, (*chain, ref)).gates]
        protocol = protocol.model_copy(update={"gates": [*included, *protocol.gates]})
    try:
        protocol.check_tree()
    except ValueError as exc:
        raise MsclabError(str(exc), file=source, hint="Define every parent and operand before the gates using it.") from None
    return protocol


def _read(ref: str, base: Path | None) -> tuple[str, str]:
    if not is_protocol_file(ref):
        resource = resources.files(_BUILTIN) / f"{ref}.yaml"
        if not resource.is_file():
            raise MsclabError(f"unknown protocol {ref!r}",
                              hint=f"Use a built-in protocol ({', '.join(builtin_protocols())}) or a YAML path.")
        return resource.read_text(encoding="utf-8"), f"built-in protocol {ref}"
    path = Path(ref)
    if not path.is_absolute() and base is not None:
        path = base / path
    if base is not None and not path.resolve().is_relative_to(Path(base).resolve()):
        raise MsclabError("the protocol file is outside the experiment's folder", file=path,
                          hint="Copy the protocol (and what it includes) into the experiment's folder "
                               "(docs/guarantees.md: paths stay inside the folders you name).")
    if not path.is_file():
        raise MsclabError("the protocol file does not exist", file=path, hint="Check the panel's protocol path.")
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except UnicodeDecodeError as exc:
        raise MsclabError("is not UTF-8 text", file=path, where=f"byte {exc.start}",
                          hint="Save the protocol as UTF-8.") from None
