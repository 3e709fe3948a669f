"""Helpers of the hardening tests: FCS building, the outcome contract, known findings, hashes.

The contract every reader is held to (docs/guarantees.md): for any input, the
only outcomes are a correct read or an :class:`~msclab.errors.MsclabError`
whose message names the file, within a time limit. :func:`check_outcome`
enforces it; :data:`KNOWN_FINDINGS` lists the contract violations already
routed to the owners of the code, each pinned by a ``strict`` xfail test, so
the property tests stay green while those are open and the xfail turns red
(XPASS) the day a fix lands.
"""

from __future__ import annotations

import contextlib
import hashlib
import resource
import struct
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from msclab.errors import MsclabError

#: Seconds any reader may take on a small (< 1 MB) hostile file.
READ_SECONDS = 5.0
#: Address space a reader may add while reading a small hostile file (beyond that: MemoryError, a finding).
READ_MEMORY = 1 << 30

#: Small real FCS files (< 400 kB) with one data set each, relative to ../shared/data.
SHARED_FCS_SEEDS = (
    "flowjo_workspaces/flowkit_simple_line/data_set_simple_line_100.fcs",
    "fcs_edge_cases/variable_int_example.fcs",
    "fcs_edge_cases/index_sorted_example.fcs",
    "fcs_edge_cases/System II listmode with extra info in bits D10-D15.LMD",
    "fcs_edge_cases/Beckman Coulter - Cyan.fcs",
    "fcs_real/flowcore_compdata/data/060909.002",
    "fcs_real/flowio/G11.fcs",
    "fcs_real/flowcal/Data003.fcs",
    "fcs_real/cytonorm/Gates_PTLG021_Unstim_Control_1.fcs",
    "gatingml2_compliance/data1.fcs",
)


#: Keywords of a minimal valid FCS 3.1 data set: 2 float channels, 3 events.
SIMPLE_KEYWORDS = {
    "$BYTEORD": "1,2,3,4", "$DATATYPE": "F", "$MODE": "L", "$NEXTDATA": "0", "$PAR": "2", "$TOT": "3",
    "$P1N": "FSC-A", "$P1B": "32", "$P1R": "262144", "$P1E": "0,0",
    "$P2N": "SSC-A", "$P2B": "32", "$P2R": "262144", "$P2E": "0,0",
}
#: The 3 x 2 events of :data:`SIMPLE_KEYWORDS`, little-endian float32 0..5.
SIMPLE_DATA = struct.pack("<6f", *range(6))


def build_fcs(keywords: dict[str, str], data: bytes = b"", *, version: str = "3.1", delimiter: str = "/",
              header_data: bool = True) -> bytes:
    """Write an FCS data set with consistent HEADER, ``$BEGINDATA`` and ``$ENDDATA``.

    Parameters
    ----------
    keywords
        TEXT keywords (``$BEGINDATA``/``$ENDDATA`` are filled in).
    data
        The DATA segment.
    version
        Written into the HEADER.
    delimiter
        TEXT delimiter; delimiters inside keywords and values are doubled. The
        TEXT is written as UTF-8 (FCS 3.1 section 3.2.7).
    header_data
        Also give the DATA offsets in the HEADER (else zeros, as beyond 99,999,999).
    """
    def text(kw: dict[str, str]) -> bytes:
        def esc(s: str) -> str:
            return s.replace(delimiter, delimiter * 2)
        return ("".join(f"{delimiter}{esc(k)}{delimiter}{esc(v)}" for k, v in kw.items()) + delimiter).encode(
            "utf-8")

    kw = {k: v for k, v in keywords.items() if k not in ("$BEGINDATA", "$ENDDATA")}
    kw["$BEGINDATA"] = kw["$ENDDATA"] = "0"
    for _ in range(4):  # the offsets' own digits move the DATA segment: iterate to a fixed point
        start = 58 + len(text(kw))
        kw["$BEGINDATA"], kw["$ENDDATA"] = str(start), str(start + len(data) - 1 if data else 0)
    segment = text(kw)
    start = 58 + len(segment)
    end = start + len(data) - 1 if data else 0
    ds, de = (start, end) if header_data else (0, 0)
    header = f"FCS{version}    {58:>8}{57 + len(segment):>8}{ds:>8}{de:>8}{0:>8}{0:>8}".encode("ascii")
    return header + segment + data


@dataclass(frozen=True)
class Finding:
    """A contract violation found by fuzzing and routed to the code's owner.

    Attributes
    ----------
    id
        Short name used in test ids and the report (``FCS-1``).
    exception
        Name of the exception type that escapes instead of an MsclabError.
    module
        The msclab module (path suffix) of the innermost msclab frame.
    summary
        What happens, for the report.
    message
        A part of the exception's message that identifies it, if needed.
    """

    id: str
    exception: str
    module: str
    summary: str
    message: str = ""


KNOWN_FINDINGS: tuple[Finding, ...] = ()


def known_finding(exc: BaseException) -> Finding | None:
    """The routed finding ``exc`` is an instance of, if any (type and innermost msclab module match)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/msclab/" in f.filename.replace("\\", "/")]
    module = frames[-1].filename.replace("\\", "/") if frames else ""
    for finding in KNOWN_FINDINGS:
        if type(exc).__name__ == finding.exception and finding.module in module and finding.message in str(exc):
            return finding
    return None


@contextlib.contextmanager
def memory_cap(extra: int = READ_MEMORY) -> Iterator[None]:
    """Limit this process's address space to its current size plus ``extra`` bytes, then restore it.

    A reader that tries to allocate what a hostile header declares gets a
    MemoryError instead of the machine's OOM killer ending the test run.
    """
    try:
        with open("/proc/self/status") as status:
            size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    except (OSError, StopIteration):  # not Linux: no cap
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = size + extra if hard == resource.RLIM_INFINITY else min(size + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def check_outcome(call: Callable[[], object], path: Path, *, seconds: float = READ_SECONDS,
                  tolerate_known: bool = True) -> str:
    """Run a reader and hold it to the contract: a result, or an MsclabError naming ``path``, in time.

    The call runs under :func:`memory_cap`, so a huge allocation is a
    MemoryError (a contract violation) rather than an exhausted machine.

    Returns
    -------
    str
        ``"read"``, ``"refused"`` or the id of a tolerated known finding.

    Raises
    ------
    AssertionError
        Any other exception, a message that does not name the file, or a
        read slower than ``seconds``.
    """
    started = time.monotonic()
    try:
        with memory_cap():
            call()
        outcome = "read"
    except MsclabError as exc:
        text = str(exc)
        assert text.strip() and "Traceback" not in text, f"empty or traceback-like message: {text!r}"
        assert path.name in text, f"the message does not name the file {path.name!r}: {text!r}"
        outcome = "refused"
    except Exception as exc:  # the contract: nothing but MsclabError may escape
        finding = known_finding(exc)
        if not (tolerate_known and finding):
            raise AssertionError(f"{type(exc).__name__} escaped instead of an MsclabError: {exc}") from exc
        outcome = finding.id
    elapsed = time.monotonic() - started
    assert elapsed < seconds, f"took {elapsed:.1f} s (limit {seconds} s)"
    return outcome


def sha256_tree(paths: Iterable[Path]) -> dict[str, str]:
    """SHA-256 of every file under ``paths`` (files or folders), by path."""
    digests = {}
    for root in paths:
        for file in sorted([root] if root.is_file() else root.rglob("*")):
            if file.is_file():
                digests[str(file)] = hashlib.sha256(file.read_bytes()).hexdigest()
    return digests
