"""Where the DATA segment is and how one event is laid out in it.

Rules from FCS 3.1 section 3.2.18 ($BYTEORD, $DATATYPE, $PnB, $BEGINDATA,
$ENDDATA, $TOT) and section 3.1 (HEADER offsets, 0 beyond byte 99,999,999).
The DATA offsets are given twice (HEADER, and TEXT from FCS 3.0 on); when they
disagree msclab only goes ahead where the answer is certain and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import FCSError
from ._channels import Channel
from ._header import Header
from ._text import whole_number

_WORDS = (1, 2, 4, 8)
_FLOWJO_PLACEHOLDER = 99_999_999


@dataclass(frozen=True)
class Layout:
    """Byte layout of one event.

    Attributes
    ----------
    widths
        Bytes each channel's value occupies.
    kinds
        ``"u"`` (unsigned integer) or ``"f"`` (IEEE float) per channel.
    order
        ``"<"`` or ``">"``: byte order of every value after ``permutation``.
    permutation
        For mixed byte orders such as ``3,4,1,2``: the file byte that holds
        each little-endian byte of a word; ``None`` otherwise.
    """

    widths: tuple[int, ...]
    kinds: tuple[str, ...]
    order: str
    permutation: tuple[int, ...] | None

    @property
    def event_size(self) -> int:
        """Bytes per event."""
        return sum(self.widths)


def event_layout(channels: list[Channel], keywords: dict[str, str], path: Path,
                 leniencies: list[str]) -> Layout:
    """The byte layout of one event from ``$PnB``, ``$DATATYPE`` and ``$BYTEORD``.

    Integer ``$PnB`` that are not a multiple of 8 (FCS 2.0 allowed any width)
    are read as stored in the smallest 1-, 2-, 4- or 8-byte word that holds
    them, which is how real instruments write them (recorded).
    """
    widths, kinds, odd = [], [], []
    for channel in channels:
        if channel.datatype == "I":
            width = -(-channel.bits // 8)
            if channel.bits % 8:
                width = next(w for w in _WORDS if w >= width)
                odd.append(channel)
            widths.append(width)
            kinds.append("u")
        else:
            widths.append(channel.bits // 8)
            kinds.append("f")
    if odd:
        leniencies.append(
            "integer channels with $PnB not a multiple of 8 ("
            + ", ".join(f"{c.name}: {c.bits} bits" for c in odd)
            + ") read as stored in whole bytes per value"
        )
    order, permutation = _byte_order(keywords, set(widths), path)
    return Layout(tuple(widths), tuple(kinds), order, permutation)


def _byte_order(keywords: dict[str, str], widths: set[int], path: Path) -> tuple[str, tuple[int, ...] | None]:
    text = keywords.get("$BYTEORD", "").replace(" ", "")
    try:
        positions = tuple(int(v) for v in text.split(","))
    except ValueError:
        positions = ()
    if sorted(positions) != list(range(1, len(positions) + 1)) or not positions:
        raise FCSError(f"$BYTEORD is {keywords.get('$BYTEORD')!r}, not a byte order such as 1,2,3,4 or 4,3,2,1",
                       file=path, where="keyword $BYTEORD", hint="The file is damaged; re-export it.")
    if positions == tuple(sorted(positions)) or widths == {1}:
        return "<", None
    if positions == tuple(sorted(positions, reverse=True)):
        return ">", None
    if widths != {len(positions)}:
        raise FCSError(
            f"$BYTEORD {text} is a mixed byte order for {len(positions)}-byte words, but the channels use "
            f"{sorted(widths)}-byte values", file=path, where="keyword $BYTEORD",
            hint="The file is inconsistent; re-export it as FCS 3.1.")
    return "<", tuple(positions.index(k) for k in range(1, len(positions) + 1))


def locate_data(header: Header, keywords: dict[str, str], n_events: int | None, layout: Layout,
                file_size: int, path: Path, leniencies: list[str]) -> tuple[int, int]:
    """Reconcile HEADER, TEXT, ``$TOT`` and the file size into the DATA bytes to read.

    Parameters
    ----------
    header
        The data set's HEADER.
    keywords
        Its TEXT keywords.
    n_events
        ``$TOT``, or ``None`` when absent (FCS 2.0), then derived from the segment.
    layout
        Event layout (gives bytes per event).
    file_size
        Size of the file in bytes.
    path, leniencies
        For messages and for recording decisions.

    Returns
    -------
    tuple of int
        Absolute first byte and number of events.

    Raises
    ------
    FCSError
        When HEADER and TEXT disagree beyond what can be reconciled safely,
        when the segment does not match ``$TOT`` x bytes per event, or when
        the file is shorter than the data it declares.
    """
    start, end = _pick_offsets(header, keywords, n_events, layout.event_size, file_size, path, leniencies)
    length = end - start + 1
    if n_events is None:
        n_events = length // layout.event_size
        leniencies.append(f"$TOT is missing; {n_events} events derived from the DATA segment length")
    expected = n_events * layout.event_size
    _check_length(start, length, expected, layout.event_size, n_events, path, leniencies)
    if start + expected > file_size:
        raise FCSError(
            f"the file is truncated: {n_events} events need DATA bytes {start}-{start + expected - 1}, "
            f"but the file has only {file_size} bytes",
            file=path, where=f"byte {file_size}",
            hint="Copy the file again from the acquisition computer; the copy is incomplete.")
    if start <= header.text_end and start + expected > header.text_start:
        raise FCSError(f"the DATA segment (from byte {start}) overlaps the TEXT segment",
                       file=path, where=f"byte {start}", hint="The file is damaged; re-export it.")
    return start, n_events


def _text_offsets(header: Header, keywords: dict[str, str], path: Path) -> tuple[int, int] | None:
    raw = (keywords.get("$BEGINDATA", "").strip(), keywords.get("$ENDDATA", "").strip())
    if not raw[0] and not raw[1]:
        return None
    begin, end = whole_number(raw[0]), whole_number(raw[1])
    if begin is None or end is None:
        raise FCSError(f"$BEGINDATA/$ENDDATA are {raw[0]!r}/{raw[1]!r}, not byte offsets", file=path,
                       where="keyword $BEGINDATA", hint="The file is damaged; re-export it.")
    if begin == 0 and end == 0:
        return None
    return header.origin + begin, header.origin + end


def _fits(pair: tuple[int, int], expected: int, event_size: int, file_size: int) -> bool:
    """Whether an offset pair holds ``expected`` bytes, allowing an off-by-one end or padding."""
    start, end = pair
    length = end - start + 1
    return start + expected <= file_size and expected - 1 <= length < expected + max(event_size, 2)


def _pick_offsets(header: Header, keywords: dict[str, str], n_events: int | None, event_size: int,
                  file_size: int, path: Path, leniencies: list[str]) -> tuple[int, int]:
    text_pair = _text_offsets(header, keywords, path)
    data_start, data_end = header.data_start, header.data_end
    header_pair = None if data_start is None or data_end is None else (data_start, data_end)
    if header_pair is None and (data_start, data_end) != (None, None):
        leniencies.append("the HEADER gives only one of the DATA offsets (the other is blank), so they were ignored")
    if header_pair is None and text_pair is None:
        raise FCSError("neither the HEADER nor $BEGINDATA/$ENDDATA give the DATA segment", file=path,
                       where=f"byte {header.origin + 26}", hint="The file is damaged; re-export it.")
    if header_pair is None or header_pair == text_pair:
        return text_pair if header_pair is None else header_pair
    if text_pair is None:
        return header_pair
    expected = None if n_events is None else n_events * event_size
    describe = (f"the HEADER gives DATA bytes {header_pair[0] - header.origin}-{header_pair[1] - header.origin} "
                f"but $BEGINDATA/$ENDDATA give {text_pair[0] - header.origin}-{text_pair[1] - header.origin}")
    if expected is not None and _FLOWJO_PLACEHOLDER in (header_pair[0] - header.origin, header_pair[1] - header.origin) \
            and _fits(text_pair, expected, event_size, file_size):
        leniencies.append(f"{describe}; the HEADER holds the placeholder 99999999, so the TEXT offsets were used")
        return text_pair
    if expected is not None and _fits(header_pair, expected, event_size, file_size):
        leniencies.append(
            f"{describe}; the HEADER offsets (the primary location, FCS 3.1 section 3.1) match "
            f"$TOT x {event_size} bytes and were used")
        return header_pair
    raise FCSError(
        f"{describe}, and the HEADER offsets do not match $TOT x bytes per event, so msclab cannot tell "
        "where the events are",
        file=path, where=f"byte {header.origin + 26}",
        hint="The file was probably edited or damaged after acquisition; re-export it from the "
             "acquisition software. msclab does not guess, to avoid reading shifted events.")


def _check_length(start: int, length: int, expected: int, event_size: int, n_events: int, path: Path,
                  leniencies: list[str]) -> None:
    if length == expected:
        return
    if length == expected + 1:
        leniencies.append(
            f"$ENDDATA/HEADER end of DATA is one byte past $TOT x {event_size} bytes (the end offset must be the "
            "last data byte, FCS 3.1 section 3.2.18); the last byte was ignored")
        return
    if length == expected - 1:
        leniencies.append(
            f"the DATA end offset is one byte short of $TOT x {event_size} bytes; the full last event was read")
        return
    if expected < length < expected + event_size:
        leniencies.append(f"the DATA segment has {length - expected} padding bytes after the last event; ignored")
        return
    hint = ("The file may be truncated or its $TOT wrong; re-export it." if length < expected else
            "$TOT or $PnB may be wrong, or the segment holds more than the declared events; re-export the file.")
    raise FCSError(
        f"the DATA segment holds {length} bytes but $TOT ({n_events}) x {event_size} bytes per event = {expected}",
        file=path, where=f"byte {start}", hint=hint)
