"""Content hashes that key every cached result: inputs + parameters + msclab version."""

from __future__ import annotations

import hashlib
import json
from os import PathLike
from pathlib import Path
from typing import Any

from .. import __version__
from .._files import sha256_file


#: Layout of cached unit records; a new layout makes every earlier cache entry a miss.
#: 2: a flow unit caches its provenance fragment (``provenance``) in place of ``gates``/``leniencies``.
CACHE_FORMAT = 2


def digest(*parts: Any) -> str:
    """Return the SHA-256 of JSON-able ``parts``, the msclab version and :data:`CACHE_FORMAT` (hex)."""
    text = json.dumps([__version__, CACHE_FORMAT, *parts], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class FileHashes:
    """SHA-256 of files, each computed once per (path, size, modification time)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, int, int], str] = {}

    def __call__(self, path: str | PathLike[str]) -> str:
        """Return the SHA-256 of ``path``, or ``"missing"`` when it cannot be read."""
        p = Path(path)
        try:
            stat = p.stat()
        except OSError:
            return "missing"
        key = (str(p), stat.st_size, stat.st_mtime_ns)
        if key not in self._seen:
            try:
                self._seen[key] = sha256_file(p)
            except OSError:
                return "missing"
        return self._seen[key]
