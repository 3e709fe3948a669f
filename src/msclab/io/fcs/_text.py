"""Keyword-value pairs of the TEXT segments (FCS 3.1 section 3.2).

The first byte of a TEXT segment is its delimiter; keywords and values
alternate between delimiters, and a delimiter inside a keyword or value is
written twice (FCS 3.1 section 3.2.5). Keywords are case-insensitive
(section 3.2.6), so msclab stores them upper-cased, ``$`` prefix kept
(``$P1N``, ``SPILL``). FCS 3.1 TEXT is UTF-8 (section 3.2.7); older files
that are not valid UTF-8 are read as Latin-1, and that is recorded.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import FCSError

_TRAILING_PADDING = " \t\r\n\x00"
#: Significant digits of the largest count or byte offset read (10^18 bytes is far beyond any file).
MAX_DIGITS = 18
_WHOLE_NUMBER = re.compile(rf"0*([0-9]{{1,{MAX_DIGITS}}})")


def whole_number(value: str | None) -> int | None:
    """A keyword value as a non-negative integer, or ``None`` when it is not one msclab can use.

    Only ASCII digits count (FCS 3.1 section 3.2.18 writes numbers in ASCII):
    ``str.isdigit`` also accepts superscripts (``"¹"``), which ``int``
    refuses, and other scripts' digits. Surrounding spaces are ignored.
    Numbers of more than :data:`MAX_DIGITS` significant digits give ``None``
    too, so ``int`` never converts an unbounded string.

    Parameters
    ----------
    value
        The keyword value as written, or ``None`` when the keyword is absent.

    Returns
    -------
    int or None
    """
    match = None if value is None else _WHOLE_NUMBER.fullmatch(value.strip())
    return None if match is None else int(match.group(1))


def decode_text(raw: bytes, label: str, leniencies: list[str]) -> str:
    """Decode a TEXT segment as UTF-8, falling back to Latin-1 (recorded)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        leniencies.append(
            f"{label} is not valid UTF-8 (byte {exc.start} of the segment); read as Latin-1"
        )
        return raw.decode("latin-1")


def parse_keywords(
    raw: bytes, *, path: Path, offset: int, label: str, leniencies: list[str]
) -> dict[str, str]:
    """Split a TEXT segment into a keyword -> value dictionary.

    Parameters
    ----------
    raw
        The segment's bytes, delimiter first.
    path, offset
        File and absolute position of the segment, for error messages.
    label
        ``"TEXT"`` or ``"supplemental TEXT"``, used in messages.
    leniencies
        Receives a sentence for every departure from the standard accepted.

    Returns
    -------
    dict
        Upper-cased keywords mapped to their values, in file order; when a
        keyword repeats, the first value is kept (and that is recorded).

    Raises
    ------
    FCSError
        If the segment is empty or its tokens do not pair up.
    """
    text = decode_text(raw, label, leniencies)
    if len(text) < 2:
        raise FCSError(f"the {label} segment is empty", file=path, where=f"byte {offset}",
                       hint="The file is damaged; re-export it from the acquisition software.")
    delimiter = text[0]
    body = text[1:].rstrip(_TRAILING_PADDING) if delimiter not in _TRAILING_PADDING else text[1:]
    if body.endswith(delimiter) and not body.endswith(delimiter * 2):
        body = body[:-1]
    tokens = _split_escaped(body, delimiter)
    if len(tokens) % 2:
        tokens = _split_with_empty_values(body, delimiter, label, leniencies)
    if tokens is None:
        raise FCSError(
            f"the {label} segment does not hold keyword/value pairs (an odd number of "
            f"{delimiter!r}-delimited fields)",
            file=path,
            where=f"byte {offset}",
            hint="The file is damaged or its HEADER gives the wrong TEXT offsets; re-export it.",
        )
    return _pair(tokens, label, leniencies)


def _split_escaped(body: str, delimiter: str) -> list[str]:
    """Split on single delimiters; a doubled delimiter is a literal one."""
    d = re.escape(delimiter)
    parts = re.split(f"(?<!{d}){d}(?!{d})", body)
    return [p.replace(delimiter * 2, delimiter) for p in parts]


def _split_with_empty_values(
    body: str, delimiter: str, label: str, leniencies: list[str]
) -> list[str] | None:
    """Read doubled delimiters as empty values, when that makes the fields pair up."""
    parts = (body[:-1] if body.endswith(delimiter) else body).split(delimiter)
    if len(parts) % 2 or any(not key.strip() for key in parts[::2]):
        return None
    leniencies.append(
        f"{label} has empty keyword values (doubled delimiters read as empty values, "
        "which FCS 3.1 section 3.2.5 does not allow)"
    )
    return parts


def _pair(tokens: list[str], label: str, leniencies: list[str]) -> dict[str, str]:
    keywords: dict[str, str] = {}
    repeated: list[str] = []
    for key, value in zip(tokens[::2], tokens[1::2], strict=True):
        name = key.strip().upper()
        if name in keywords:
            repeated.append(name)
            continue
        keywords[name] = value
    if repeated:
        leniencies.append(
            f"{label} repeats the keyword(s) {', '.join(sorted(set(repeated)))}; the first value was kept"
        )
    return keywords


def merge_supplemental(
    primary: dict[str, str], supplemental: dict[str, str], leniencies: list[str]
) -> dict[str, str]:
    """Add supplemental TEXT keywords; the primary TEXT wins on conflicts (FCS 3.1 section 3.2.3)."""
    merged = dict(primary)
    clashes = sorted(k for k, v in supplemental.items() if k in primary and primary[k] != v)
    for key, value in supplemental.items():
        merged.setdefault(key, value)
    if clashes:
        leniencies.append(
            "supplemental TEXT gives other values for " + ", ".join(clashes) + "; the primary TEXT values were kept"
        )
    return merged
