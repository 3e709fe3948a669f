"""Decoding and splitting the text exports of plate readers and Luminex.

Real exports come as UTF-8 (with or without a byte-order mark), UTF-16
(SoftMax Pro) or Windows-1252 (``µ`` in xPONENT units), separated by commas,
semicolons or tabs. These helpers turn such a file into rows of cells and
record every leniency they apply.
"""

from __future__ import annotations

import csv
from pathlib import Path

from msclab.errors import AssayFileError

DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


def read_text(path: Path, leniencies: list[str]) -> str:
    """Return the decoded text of an export.

    Parameters
    ----------
    path
        The file.
    leniencies
        List that receives a sentence for each leniency applied (byte-order
        mark removed, Windows-1252 fallback).

    Raises
    ------
    AssayFileError
        When the file is missing or empty.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise AssayFileError("file not found", file=path, hint="Check the path.") from None
    except IsADirectoryError:
        raise AssayFileError("is a folder, not an export file", file=path) from None
    if not raw.strip():
        raise AssayFileError(
            "the file is empty", file=path, hint="Export the plate again from the instrument software."
        )
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    if len(raw) > 1 and raw[1:2] == b"\x00" and raw[0:1] != b"\x00":
        leniencies.append("decoded as UTF-16-LE without byte-order mark")
        return raw.decode("utf-16-le", errors="replace")
    if raw.startswith(b"\xef\xbb\xbf"):
        leniencies.append("UTF-8 byte-order mark removed")
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        leniencies.append("not valid UTF-8: decoded as Windows-1252")
        return raw.decode("cp1252", errors="replace")


def sniff_delimiter(text: str, path: Path) -> str:
    """Guess the column delimiter (``,``, ``;`` or tab) of a text export.

    A delimiter found on most non-empty lines among the first 40 wins, in the
    order tab, semicolon, comma (a semicolon file may use decimal commas).

    Raises
    ------
    AssayFileError
        When no line holds any of the three delimiters.
    """
    lines = [line for line in text.splitlines() if line.strip()][:40]
    for delimiter in ("\t", ";", ","):
        hits = sum(delimiter in line for line in lines)
        if hits and hits >= len(lines) / 2:
            return delimiter
    for delimiter in (",", ";", "\t"):
        if any(delimiter in line for line in lines):
            return delimiter
    first = lines[0] if lines else ""
    raise AssayFileError(
        f"no comma, semicolon or tab separates the columns (first line: {first[:60]!r})",
        file=path,
        where="line 1",
        hint="Export the data as comma-separated text (CSV) or tab-separated text.",
    )


def split_rows(text: str, delimiter: str) -> list[list[str]]:
    """Split text into rows of stripped cells, honouring double quotes."""
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    return [[cell.strip() for cell in row] for row in reader]


def trim(cells: list[str]) -> list[str]:
    """Drop trailing empty cells (Excel re-saves pad every row with commas)."""
    end = len(cells)
    while end and not cells[end - 1]:
        end -= 1
    return cells[:end]
