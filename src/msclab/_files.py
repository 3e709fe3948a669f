"""Small file helpers shared by every writer: atomic writes and content hashes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import IO

from .errors import MsclabError

_CHUNK = 1 << 20


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


#: Permissions of a new output file: what ``open()`` would give (0o666 less the umask).
_DEFAULT_MODE = 0o666 & ~_umask()


def sha256_file(path: str | PathLike[str]) -> str:
    """Return the SHA-256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_write(path: str | PathLike[str], mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path`` and rename it into place on success.

    A crash or an exception leaves the previous file (or none), never a
    half-written one.

    Parameters
    ----------
    path
        The final file name.
    mode
        ``"w"`` for text or ``"wb"`` for bytes.
    **kwargs
        Passed to :func:`open` (e.g. ``encoding``, ``newline``).
    """
    target = Path(path)
    fd, tmp_name = _temporary(target)
    os.chmod(tmp_name, _DEFAULT_MODE)
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError):
            raise _write_error(target, exc) from exc
        raise


@contextlib.contextmanager
def atomic_path(path: str | PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place on success.

    For writers that want a file name rather than a handle (AnnData, Parquet,
    matplotlib).
    """
    target = Path(path)
    fd, tmp_name = _temporary(target)
    os.close(fd)
    tmp = Path(tmp_name).with_suffix(f".part{target.suffix}")  # writers pick the format by suffix
    os.replace(tmp_name, tmp)
    try:
        yield tmp
        os.chmod(tmp, _DEFAULT_MODE)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise _write_error(target, exc) from exc
        raise


def _temporary(target: Path) -> tuple[int, str]:
    """Create a uniquely named empty file beside ``target`` (its folder created); clear error if impossible."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise MsclabError(
            f"cannot write here ({exc.strerror})",
            file=target,
            hint="Choose an output folder you can write to, with free space.",
        ) from exc


def _write_error(target: Path, exc: OSError) -> MsclabError:
    return MsclabError(f"writing failed ({exc.strerror})", file=target,
                       hint="Check the free space and permissions of the output folder.")
