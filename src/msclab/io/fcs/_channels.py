"""The channel ("parameter") table of a data set: $PnN, $PnS, $PnB, $PnR, $PnE, $PnG.

Keyword meanings follow FCS 3.1 section 3.2.18 and FCS 3.2 section 3.2.18
(``$PnDATATYPE``, ``$PnTYPE``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import FCSError
from ._text import MAX_DIGITS, whole_number

CHANNEL_TYPES = ("scatter", "fluorescence", "time", "other")
_SCATTER = re.compile(r"^(fsc|ssc|fs|ss)(\b|[-_ ]|$)|scatter", re.IGNORECASE)
#: Names instruments give their time channel ("Time", "TIME", MACSQuant "HDR-T", "Clock").
TIME_NAME = re.compile(r"^(time|hdr[-_ ]?t|clock)$", re.IGNORECASE)
_OTHER = re.compile(
    r"width|event|count|length|pulse|index|residual|center|offset|beaddist|msw|lsw|sort|^computed", re.IGNORECASE
)
#: Largest and smallest positive normal float32: what a scale value in X can be.
FLOAT32_MAX, FLOAT32_TINY = float(np.finfo(np.float32).max), float(np.finfo(np.float32).tiny)
_TYPES_32 = {"forward_scatter": "scatter", "side_scatter": "scatter", "raw_fluorescence": "fluorescence",
             "unmixed_fluorescence": "fluorescence", "mass": "fluorescence", "time": "time"}


@dataclass(frozen=True)
class Channel:
    """One channel of a data set.

    Attributes
    ----------
    number
        ``n`` of ``$PnN`` (1-based).
    name
        ``$PnN``, made unique within the data set if needed.
    short_name
        ``$PnN`` as written in the file.
    label
        ``$PnS`` (stain/marker), ``""`` when absent.
    datatype
        ``"I"``, ``"F"`` or ``"D"``: ``$PnDATATYPE`` (FCS 3.2) or ``$DATATYPE``.
    bits
        ``$PnB``.
    range
        ``$PnR`` (``nan`` when absent from float data).
    gain
        ``$PnG`` (1 when absent).
    log_decades, log_offset
        ``$PnE`` f1 and f2, with f2 = 0 read as 1 when f1 > 0.
    kind
        One of :data:`CHANNEL_TYPES`.
    """

    number: int
    name: str
    short_name: str
    label: str
    datatype: str
    bits: int
    range: float
    gain: float
    log_decades: float
    log_offset: float
    kind: str


def parse_channels(keywords: dict[str, str], version: str, path: Path, leniencies: list[str]) -> list[Channel]:
    """Build the channel table of a data set from its keywords.

    Parameters
    ----------
    keywords
        Upper-cased TEXT keywords.
    version
        FCS version of the data set (``$PnE`` is only required from 3.0 on).
    path
        The file, for error messages.
    leniencies
        Receives a sentence for every departure from the standard accepted.

    Returns
    -------
    list of Channel

    Raises
    ------
    FCSError
        When ``$PAR``, ``$DATATYPE``, a ``$PnN`` or a ``$PnB`` is missing or invalid.
    """
    n_par = int_keyword(keywords, "$PAR", path)
    if n_par < 1:
        raise FCSError("$PAR must be at least 1", file=path, where="keyword $PAR",
                       hint="The file declares no channels; re-export it.")
    if 2 * n_par > len(keywords):
        raise FCSError(
            f"$PAR declares {n_par} channels, but the TEXT holds only {len(keywords)} keywords and every channel "
            "needs its own $PnN and $PnB",
            file=path, where="keyword $PAR", hint="$PAR or the TEXT segment is damaged; re-export the file.",
        )
    missing = next((n for n in range(1, n_par + 1) if f"$P{n}N" not in keywords), None)
    if missing is not None:
        raise FCSError(
            f"$PAR declares {n_par} channels but $P{missing}N is missing",
            file=path, where=f"keyword $P{missing}N",
            hint="The TEXT segment is incomplete; re-export the file.",
        )
    datatype = keywords.get("$DATATYPE", "").strip().upper()
    channels = [_channel(keywords, n, datatype, version, path, leniencies) for n in range(1, n_par + 1)]
    return _unique_names(channels, leniencies)


def int_keyword(keywords: dict[str, str], key: str, path: Path) -> int:
    """A required non-negative integer keyword, or a clear :class:`FCSError`."""
    if key not in keywords:
        raise FCSError(f"the required keyword {key} is missing", file=path, where=f"keyword {key}",
                       hint="The TEXT segment is incomplete; re-export the file.")
    value = whole_number(keywords[key])
    if value is None:
        raise FCSError(f"{key} is {keywords[key]!r}, not a whole number (up to {MAX_DIGITS} ASCII digits 0-9)",
                       file=path, where=f"keyword {key}", hint="The file is damaged; re-export it.")
    return value


def _float(keywords: dict[str, str], key: str, path: Path) -> float | None:
    if key not in keywords or not keywords[key].strip():
        return None
    try:
        value = float(keywords[key].strip())
    except ValueError:
        raise FCSError(f"{key} is {keywords[key]!r}, not a number", file=path, where=f"keyword {key}",
                       hint="The file is damaged; re-export it.") from None
    if not math.isfinite(value):
        raise FCSError(f"{key} is {keywords[key]!r}", file=path, where=f"keyword {key}",
                       hint="The file is damaged; re-export it.")
    return value


def _channel(keywords: dict[str, str], n: int, datatype: str, version: str, path: Path,
             leniencies: list[str]) -> Channel:
    name = keywords[f"$P{n}N"].strip()
    own_type = keywords.get(f"$P{n}DATATYPE", "").strip().upper()
    kind_of_data = own_type or datatype
    if kind_of_data not in ("I", "F", "D"):
        key = f"$P{n}DATATYPE" if own_type else "$DATATYPE"
        raise FCSError(
            f"{key} is {kind_of_data!r}; msclab reads integer (I), float (F) and double (D) data",
            file=path, where=f"keyword {key}",
            hint="ASCII (A) data are deprecated since FCS 3.1; re-export the file as FCS 3.1 float.",
        )
    bits = _bits(keywords, n, kind_of_data, path)
    value_range = _float(keywords, f"$P{n}R", path)
    if value_range is None:
        if kind_of_data == "I":
            raise FCSError(f"$P{n}R (range of channel {name}) is missing; integer data cannot be masked without it",
                           file=path, where=f"keyword $P{n}R", hint="Re-export the file.")
        leniencies.append(f"$P{n}R ({name}) is missing; range left empty")
        value_range = math.nan
    decades, offset = _log_scale(keywords, n, name, version, path, leniencies)
    if decades > 0 and kind_of_data == "I":
        _check_log_range(keywords, n, name, value_range, decades, offset, path)
    gain = _float(keywords, f"$P{n}G", path)
    return Channel(
        number=n, name=name, short_name=name, label=keywords.get(f"$P{n}S", "").strip(),
        datatype=kind_of_data, bits=bits, range=value_range,
        gain=1.0 if gain is None else gain, log_decades=decades, log_offset=offset,
        kind=_kind(keywords, n, name),
    )


def _bits(keywords: dict[str, str], n: int, datatype: str, path: Path) -> int:
    key = f"$P{n}B"
    bits = int_keyword(keywords, key, path)
    expected = {"F": 32, "D": 64}.get(datatype)
    if expected is not None and bits != expected:
        raise FCSError(f"{key} is {bits} but data type {datatype} needs {expected} bits", file=path,
                       where=f"keyword {key}", hint="The file is inconsistent; re-export it.")
    if not 1 <= bits <= 64:
        raise FCSError(f"{key} is {bits}; integer channels must have 1-64 bits", file=path,
                       where=f"keyword {key}", hint="The file is damaged; re-export it.")
    return bits


def _log_scale(keywords: dict[str, str], n: int, name: str, version: str, path: Path,
               leniencies: list[str]) -> tuple[float, float]:
    """``$PnE`` f1, f2 (FCS 3.1 section 3.2.18: f2 = 0 with f1 > 0 is read as 1)."""
    key = f"$P{n}E"
    text = keywords.get(key, "").strip()
    if not text:
        if version != "2.0":
            leniencies.append(f"{key} ({name}) is missing; read as linear (0,0)")
        return 0.0, 0.0
    try:
        decades, offset = (float(v) for v in text.split(","))
    except ValueError:
        raise FCSError(f"{key} is {keywords[key]!r}, not 'f1,f2'", file=path, where=f"keyword {key}",
                       hint="The file is damaged; re-export it.") from None
    if not (0 <= decades < math.inf and 0 <= offset < math.inf):
        raise FCSError(f"{key} is {keywords[key]!r}; both numbers must be finite and >= 0", file=path,
                       where=f"keyword {key}", hint="The file is damaged; re-export it.")
    if decades > 0 and offset == 0:
        leniencies.append(f"{key} ({name}) is {text!r}: f2 = 0 read as 1 (FCS 3.1 section 3.2.18)")
        offset = 1.0
    return decades, offset


def _check_log_range(keywords: dict[str, str], n: int, name: str, value_range: float, decades: float,
                     offset: float, path: Path) -> None:
    """Check that a log-amplified integer channel's scale values, f2 to f2 * 10**f1, are float32 numbers.

    Then ``f1 * x / $PnR`` stays small, and only values stored above ``$PnR``
    can scale beyond float32 (:func:`~._data.scale_values` makes them inf).
    """
    if value_range < 1:
        raise FCSError(f"$P{n}R ({name}) is {keywords[f'$P{n}R']!r}, but log scaling ($P{n}E) needs a range of at "
                       "least 1", file=path, where=f"keyword $P{n}R", hint="The file is damaged; re-export it.")
    if offset < FLOAT32_TINY or decades + math.log10(offset) > math.log10(FLOAT32_MAX):
        raise FCSError(
            f"$P{n}E ({name}) is {keywords[f'$P{n}E']!r}: scale values from {offset:g} to {offset:g} x 10^{decades:g}, "
            f"beyond the float32 numbers msclab stores ({FLOAT32_TINY:.3g} to {FLOAT32_MAX:.3g})",
            file=path, where=f"keyword $P{n}E", hint="The file is damaged; re-export it.")


def _kind(keywords: dict[str, str], n: int, name: str) -> str:
    declared = keywords.get(f"$P{n}TYPE", "").strip().lower()
    if declared in _TYPES_32:
        return _TYPES_32[declared]
    if TIME_NAME.match(name.strip()):
        return "time"
    if _SCATTER.search(name):
        return "scatter"
    if _OTHER.search(name) or "time" in name.lower():
        return "other"
    return "fluorescence"


def _unique_names(channels: list[Channel], leniencies: list[str]) -> list[Channel]:
    """Make repeated ``$PnN`` unique by appending ``_2``, ``_3``... (recorded)."""
    seen: dict[str, int] = {}
    taken = {c.name for c in channels}
    out = []
    for channel in channels:
        count = seen.get(channel.name, 0) + 1
        seen[channel.name] = count
        if count == 1:
            out.append(channel)
            continue
        new = f"{channel.name}_{count}"
        while new in taken:
            count += 1
            new = f"{channel.name}_{count}"
        taken.add(new)
        leniencies.append(f"$P{channel.number}N repeats the channel name {channel.name!r}; renamed {new!r}")
        out.append(Channel(**{**channel.__dict__, "name": new}))
    return out


def channel_frame(channels: list[Channel]) -> pd.DataFrame:
    """The channels as the ``var`` table of the events AnnData (index = unique ``$PnN``)."""
    frame = pd.DataFrame(
        {
            "pnn": [c.short_name for c in channels],
            "pns": [c.label for c in channels],
            "marker": [c.label for c in channels],
            "range": [c.range for c in channels],
            "bits": [c.bits for c in channels],
            "gain": [c.gain for c in channels],
            "log_decades": [c.log_decades for c in channels],
            "log_offset": [c.log_offset for c in channels],
            "type": pd.Categorical([c.kind for c in channels], categories=CHANNEL_TYPES),
        },
        index=pd.Index([c.name for c in channels], name="channel"),
    )
    return frame
