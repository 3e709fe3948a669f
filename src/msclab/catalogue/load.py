"""Load the packaged effects catalogue, optionally extended by a local file.

The packaged file (``msclab/catalogue/effects.yaml``) is the versioned
catalogue. A user's local YAML file may

- add entries (complete entries with a new ``id``),
- override fields of existing entries (an entry with an existing ``id`` and only
  the fields to change; ``contexts`` are merged context by context),
- add references (``references:`` mapping) and override ``scoring`` values.

The result is validated as a whole, so an override that breaks a reference or a
direction is refused with a message naming the file.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import MsclabError
from .model import Catalogue

PACKAGED = "effects.yaml"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except FileNotFoundError:
        raise MsclabError("catalogue file not found", file=path) from None
    except OSError as exc:
        raise MsclabError(f"cannot read the catalogue file ({exc.strerror})", file=path,
                          hint="Check the path and the file's permissions.") from None
    except UnicodeDecodeError as exc:
        line = exc.object.count(b"\n", 0, exc.start) + 1
        raise MsclabError(f"not UTF-8 text ({exc.reason}: {exc.object[exc.start:exc.end]!r})", file=path,
                          where=f"line {line}, byte {exc.start}", hint="Save the catalogue file as UTF-8.") from None
    except yaml.YAMLError as exc:
        raise MsclabError(f"not valid YAML: {exc}", file=path) from None
    except ValueError as exc:  # a value the YAML loader cannot build, such as an integer of 5,000 digits
        raise MsclabError(f"not valid YAML: {exc}", file=path, hint="Shorten or quote the value.") from None
    if not isinstance(data, dict):
        raise MsclabError("a catalogue file must be a mapping with an 'effects:' list", file=path)
    return data


@lru_cache(maxsize=1)
def _packaged_text() -> str:
    return resources.files(__package__).joinpath(PACKAGED).read_text(encoding="utf-8")


def _packaged() -> dict[str, Any]:
    return yaml.load(_packaged_text(), Loader=_Loader)


def _merge_entry(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if key == "contexts" and isinstance(value, dict):
            contexts = merged.setdefault("contexts", {})
            for ctx, expectation in value.items():
                if isinstance(expectation, dict) and isinstance(contexts.get(ctx), dict):
                    contexts[ctx] = {**contexts[ctx], **expectation}
                else:
                    contexts[ctx] = expectation
        else:
            merged[key] = value
    return merged


def _apply(doc: dict[str, Any], extra: dict[str, Any], path: Path) -> None:
    entries = extra.get("effects", [])
    if not isinstance(entries, list):
        raise MsclabError("'effects' must be a list of entries", file=path)
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise MsclabError("every entry needs an 'id' (a text)", file=path, where=f"effects[{i}]")
        eid = entry["id"]
        doc["effects"][eid] = _merge_entry(doc["effects"][eid], entry) if eid in doc["effects"] else entry
    refs = extra.get("references", {})
    if not isinstance(refs, dict):
        raise MsclabError("'references' must be a mapping of key -> reference", file=path)
    doc["references"].update(refs)
    scoring = extra.get("scoring", {})
    if not isinstance(scoring, dict):
        raise MsclabError("'scoring' must be a mapping of setting -> value", file=path)
    doc["scoring"] = {**doc["scoring"], **scoring}
    doc.setdefault("sources", []).append(str(path))


def load_catalogue(extra: str | PathLike[str] | Iterable[str | PathLike[str]] | None = None) -> Catalogue:
    """Return the effects catalogue, extended by local files if given.

    Parameters
    ----------
    extra
        One path or several paths to local catalogue YAML files, applied in
        order on top of the packaged catalogue.

    Returns
    -------
    Catalogue
        The validated catalogue; ``sources`` lists the local files applied.

    Raises
    ------
    MsclabError
        When a file cannot be read or the merged catalogue is not valid.
    """
    doc = _packaged()
    doc["effects"] = {entry["id"]: entry for entry in doc["effects"]}
    doc["sources"] = []
    paths = [] if extra is None else [extra] if isinstance(extra, (str, PathLike)) else list(extra)
    for p in paths:
        path = Path(p)
        _apply(doc, _read_yaml(path), path)
    try:
        return Catalogue.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        source = Path(paths[-1]) if paths else None
        raise MsclabError(
            f"the catalogue is not valid ({exc.error_count()} problem(s)); first: {first['msg']}",
            file=source,
            where=where or None,
            hint="Check the entry against docs/catalogue.md.",
        ) from None
