"""Content hashes that key every cached result: inputs + parameters + msclab version."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
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
    """SHA-256 of files, each computed once per (path, size, modification time).

    :meth:`prefetch` hashes many files on several threads first (reading and
    hashing release the GIL): planning a batch hashes every FCS file.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[str, int, int], str] = {}

    def __call__(self, path: str | PathLike[str]) -> str:
        """Return the SHA-256 of ``path``, or ``"missing"`` when it cannot be read."""
        key = self._key(path)
        if key is None:
            return "missing"
        if key not in self._seen:
            try:
                self._seen[key] = sha256_file(key[0])
            except OSError:
                return "missing"
        return self._seen[key]

    @staticmethod
    def _key(path: str | PathLike[str]) -> tuple[str, int, int] | None:
        try:
            stat = Path(path).stat()
        except OSError:
            return None
        return str(Path(path)), stat.st_size, stat.st_mtime_ns

    def prefetch(self, paths: Iterable[str | PathLike[str]], threads: int | None = None) -> None:
        """Hash the files not hashed yet, ``threads`` at a time (default: the usable cores); unreadable ones are
        left for :meth:`__call__` to report. The threads end before this returns."""
        keys = {key for key in map(self._key, paths) if key is not None and key not in self._seen}
        if not keys:
            return
        from concurrent.futures import ThreadPoolExecutor

        from .._parallel import n_processes

        def digest_of(key: tuple[str, int, int]) -> tuple[tuple[str, int, int], str | None]:
            try:
                return key, sha256_file(key[0])
            except OSError:
                return key, None

        with ThreadPoolExecutor(n_processes(threads, len(keys))) as pool:
            for key, value in pool.map(digest_of, sorted(keys)):
                if value is not None:
                    self._seen[key] = value
