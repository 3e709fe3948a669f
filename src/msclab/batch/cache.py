"""The on-disk cache of task results: ``<folder>/<key>.json`` plus one Parquet file per table.

A result is its tables (pandas DataFrames, stored as ``<key>.<name>.parquet``)
and a JSON-able record (``<key>.json``). Every file is written atomically and
the JSON last, so the JSON is the commit mark: a run killed at any moment
leaves either a complete result or none that counts, and a rerun recomputes
exactly what is missing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from .._files import atomic_path, atomic_write


def result_path(folder: str | PathLike[str], key: str) -> Path:
    """The commit file of a result: ``<folder>/<key>.json``."""
    return Path(folder) / f"{key}.json"


def has_result(folder: str | PathLike[str], key: str) -> bool:
    """True when a complete result for ``key`` is cached."""
    return result_path(folder, key).is_file()


def store(folder: str | PathLike[str], key: str, record: Mapping[str, Any],
          tables: Mapping[str, pd.DataFrame] | None = None) -> Path:
    """Write a result: the tables first, then the JSON record that commits them.

    Returns
    -------
    Path
        The JSON file.
    """
    folder = Path(folder)
    names = []
    for name, table in (tables or {}).items():
        with atomic_path(folder / f"{key}.{name}.parquet") as tmp:
            table.to_parquet(tmp, index=False)
        names.append(name)
    path = result_path(folder, key)
    with atomic_write(path) as handle:
        json.dump({**record, "tables": names}, handle, default=str)
    return path


def read_record(folder: str | PathLike[str], key: str) -> dict[str, Any]:
    """Read only the JSON record of a stored result (not its tables)."""
    return json.loads(result_path(folder, key).read_text(encoding="utf-8"))


def load(folder: str | PathLike[str], key: str) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Read a stored result: its record and its tables by name."""
    folder = Path(folder)
    record = read_record(folder, key)
    tables = {name: pd.read_parquet(folder / f"{key}.{name}.parquet") for name in record.pop("tables")}
    return record, tables
