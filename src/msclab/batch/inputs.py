"""Batch inputs: experiment files or folders, each given a unique output name."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from ..errors import MsclabError

MANIFEST = "experiment.yaml"


@dataclass(frozen=True)
class BatchInput:
    """One experiment of a batch.

    Attributes
    ----------
    name
        Its output folder name under ``OUT`` (unique in the batch).
    manifest
        Its ``experiment.yaml`` (absolute).
    """

    name: str
    manifest: Path


def _name(manifest: Path) -> str:
    base = manifest.parent.name if manifest.name == MANIFEST else manifest.stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", base).strip("._") or "experiment"


def resolve_inputs(inputs: Sequence[str | PathLike[str]]) -> list[BatchInput]:
    """Turn the command line's INPUTS into experiments.

    A folder means its ``experiment.yaml``; a file is taken as a manifest.
    Names come from the folder (or file stem) and get ``-2``, ``-3`` when two
    experiments would share one. An experiment given twice is run once.

    Raises
    ------
    MsclabError
        When an input does not exist or a folder has no ``experiment.yaml``.
    """
    out: list[BatchInput] = []
    seen: set[Path] = set()
    names: set[str] = set()
    for item in inputs:
        path = Path(item).expanduser().resolve()
        manifest = path / MANIFEST if path.is_dir() else path
        if not manifest.is_file():
            raise MsclabError(f"no experiment at {item}", file=manifest,
                              hint=f"Give an experiment.yaml or a folder that holds one ({MANIFEST}).")
        if manifest in seen:
            continue
        seen.add(manifest)
        name, n = _name(manifest), 1
        while (name if n == 1 else f"{name}-{n}") in names:
            n += 1
        name = name if n == 1 else f"{name}-{n}"
        names.add(name)
        out.append(BatchInput(name, manifest))
    return out
