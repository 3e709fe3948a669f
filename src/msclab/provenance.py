"""Provenance: what went in, with which settings, and what leniencies were applied.

Every command that writes results writes ``provenance.json`` through
:class:`Provenance`: the msclab and dependency versions, every input file with
its SHA-256, every parameter, and every leniency a reader applied.
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from os import PathLike
from pathlib import Path
from typing import Any, Protocol

from ._files import atomic_write, sha256_file

DEPENDENCIES = (
    "numpy", "scipy", "pandas", "flowkit", "flowio", "flowutils", "anndata", "scanpy",
    "scikit-learn", "xarray", "pydantic", "dask", "distributed", "matplotlib", "pyarrow",
)


class Fragment(Protocol):
    """What one quantifier read and decided, for :meth:`Provenance.record`."""

    def steps(self) -> dict[str, Any]:
        """``steps`` sections: section -> {key: record}, or a list of records."""


def dependency_versions() -> dict[str, str]:
    """Return the installed version of msclab's main dependencies."""
    versions = {}
    for name in DEPENDENCIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass
class Provenance:
    """Collects the record of one msclab run.

    Attributes
    ----------
    command
        The command that ran (e.g. ``"analyze"``).
    parameters
        Every parameter, by name.
    inputs
        Every input file: path, SHA-256 and size.
    leniencies
        Every leniency a reader applied, per file.
    steps
        Records of what each stage decided (gates resolved, curve acceptance,
        normalisation rules). A quantifier returns its part as a fragment
        (:class:`msclab.flow.result.PanelProvenance`,
        :class:`msclab.assay.quantification.AssayProvenance`) and
        :meth:`record` puts it here.
    """

    command: str
    parameters: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    leniencies: dict[str, list[str]] = field(default_factory=dict)
    steps: dict[str, Any] = field(default_factory=dict)
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    def add_input(self, path: str | PathLike[str], role: str = "input") -> None:
        """Record an input file with its hash, once; a folder records every file in it."""
        p = Path(path)
        if p.is_dir():
            for child in sorted(c for c in p.rglob("*") if c.is_file()):
                self.add_input(child, role)
            return
        key = str(p)
        if any(entry["path"] == key for entry in self.inputs):
            return
        self.inputs.append({"path": key, "role": role, "sha256": sha256_file(p), "bytes": p.stat().st_size})

    def add_leniency(self, path: str | PathLike[str], what: str) -> None:
        """Record a leniency applied while reading ``path``."""
        self.leniencies.setdefault(str(path), [])
        if what not in self.leniencies[str(path)]:
            self.leniencies[str(path)].append(what)

    def record(self, fragment: Fragment) -> None:
        """Put a quantifier's provenance fragment into this record: its inputs, leniencies and steps.

        A section that maps keys (panel, assay) to records gains the fragment's
        keys; a list section is extended.
        """
        for path, role in getattr(fragment, "inputs", ()):
            self.add_input(path, role)
        for path, what in getattr(fragment, "leniencies", ()):
            self.add_leniency(path, what)
        self._add_steps(fragment.steps())

    def merge(self, other: Provenance) -> None:
        """Add the inputs, leniencies and steps of a record made apart (e.g. by work in another process).

        Inputs already recorded are kept as they are; steps join as in :meth:`record`.
        """
        known = {entry["path"] for entry in self.inputs}
        self.inputs += [entry for entry in other.inputs if entry["path"] not in known]
        for path, items in other.leniencies.items():
            for what in items:
                self.add_leniency(path, what)
        self._add_steps(other.steps)

    def _add_steps(self, steps: dict[str, Any]) -> None:
        """Join steps: a section that maps keys gains the new keys; a list section is extended."""
        for section, value in steps.items():
            if isinstance(value, list):
                self.steps.setdefault(section, []).extend(value)
            else:
                self.steps.setdefault(section, {}).update(value)

    def to_dict(self) -> dict[str, Any]:
        """Return the record as plain JSON-able data."""
        from . import __version__

        return {
            "msclab_version": __version__,
            "command": self.command,
            "started": self.started,
            "finished": datetime.now(timezone.utc).isoformat(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "dependencies": dependency_versions(),
            "parameters": self.parameters,
            "inputs": self.inputs,
            "leniencies": self.leniencies,
            "steps": self.steps,
        }

    def write(self, path: str | PathLike[str]) -> Path:
        """Write ``provenance.json`` atomically and return its path."""
        target = Path(path)
        with atomic_write(target) as handle:
            json.dump(self.to_dict(), handle, indent=2, default=str, sort_keys=False)
            handle.write("\n")
        return target
