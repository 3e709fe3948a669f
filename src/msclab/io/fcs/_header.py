"""The HEADER segment of one FCS data set (FCS 3.1 section 3.1).

The HEADER is 58 ASCII bytes: the version identifier ``FCSx.y`` (bytes 0-5),
four spaces (bytes 6-9) and six right-justified 8-byte integers giving the
first and last byte offsets of the TEXT, DATA and ANALYSIS segments, counted
from the first byte of the data set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import FCSError

HEADER_SIZE = 58
SUPPORTED_VERSIONS = ("2.0", "3.0", "3.1", "3.2")
_FIELDS = ("text_start", "text_end", "data_start", "data_end", "analysis_start", "analysis_end")


@dataclass(frozen=True)
class Header:
    """The HEADER of one data set; offsets are absolute positions in the file.

    Attributes
    ----------
    version
        ``"2.0"``, ``"3.0"``, ``"3.1"`` or ``"3.2"``.
    origin
        Byte position of the data set in the file (0 for the first one).
    text_start, text_end, data_start, data_end
        Inclusive absolute byte offsets; the DATA pair is ``None`` when the
        HEADER holds 0 (FCS 3.1 section 3.1: a segment beyond byte 99,999,999
        is given in TEXT only) or blanks, and one of them is ``None`` when
        only its field is blank.
    """

    version: str
    origin: int
    text_start: int
    text_end: int
    data_start: int | None
    data_end: int | None


def parse_header(raw: bytes, origin: int, path: Path) -> Header:
    """Parse the 58 HEADER bytes of the data set starting at ``origin``.

    Parameters
    ----------
    raw
        The HEADER bytes (at least 58).
    origin
        Absolute byte position of the data set in the file.
    path
        The file, for error messages.

    Returns
    -------
    Header

    Raises
    ------
    FCSError
        If the bytes are not an FCS HEADER of a supported version.
    """
    where = f"byte {origin}"
    if len(raw) < HEADER_SIZE or not raw.startswith(b"FCS"):
        raise FCSError(
            "not an FCS file: it does not start with an 'FCSx.y' HEADER",
            file=path,
            where=where,
            hint="Check that this is the file exported by the cytometer (FCS 2.0-3.2), not a workspace or a CSV.",
        )
    version = raw[3:6].decode("ascii", errors="replace")
    if version not in SUPPORTED_VERSIONS:
        raise FCSError(
            f"FCS version {version!r} is not supported (msclab reads {', '.join(SUPPORTED_VERSIONS)})",
            file=path,
            where=where,
            hint="Re-export the file from the acquisition software as FCS 3.1.",
        )
    values = [_offset(raw[10 + 8 * i : 18 + 8 * i], _FIELDS[i], origin, path) for i in range(4)]
    text_start, text_end, data_start, data_end = values
    if text_start is None or text_end is None or text_start < HEADER_SIZE or text_end < text_start:
        raise FCSError(
            f"the HEADER gives no usable TEXT segment (bytes {text_start}-{text_end})",
            file=path,
            where=f"byte {origin + 10}",
            hint="The file is damaged; re-export it from the acquisition software.",
        )
    if not data_start and not data_end:
        data_start = data_end = None
    return Header(
        version=version,
        origin=origin,
        text_start=origin + text_start,
        text_end=origin + text_end,
        data_start=None if data_start is None else origin + data_start,
        data_end=None if data_end is None else origin + data_end,
    )


def _offset(field: bytes, name: str, origin: int, path: Path) -> int | None:
    """One 8-byte HEADER offset; blanks read as ``None``."""
    text = field.decode("ascii", errors="replace").strip()
    if not text:
        return None
    if not text.isdigit():
        raise FCSError(
            f"the HEADER field {name} holds {text!r}, not a byte offset",
            file=path,
            where=f"byte {origin + 10 + 8 * _FIELDS.index(name)}",
            hint="The file is damaged; re-export it from the acquisition software.",
        )
    return int(text)
