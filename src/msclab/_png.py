"""PNG files from RGB arrays, written with :mod:`zlib` (no filter, fast compression).

Pillow's PNG encoder chooses a filter for every row by trying all five
(adaptive filtering), which costs most of its time on plots of flat colour:
about 25 ms for a 1224 x 864 gate plot, of which 13 ms before any
compression. The plots msclab paints are mostly flat colour, which deflate
compresses well unfiltered: at level 3 the same image takes about 7 ms and
3-10% more bytes (``benchmarks/bench_png.py`` measures both in one run;
``tests/foundation/test_png.py`` reads the files back with Pillow).

The file holds the image and nothing else (no time stamp, no text chunks),
so the same pixels give the same bytes in any process.
"""

from __future__ import annotations

import struct
import zlib
from os import PathLike
from typing import BinaryIO

import numpy as np

#: deflate level: 3 is the fastest of zlib's greedy levels that still matches long runs of one colour well.
LEVEL = 3
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {3: 2, 4: 6}  # channels -> PNG colour type (truecolour, truecolour with alpha)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(pixels: np.ndarray, level: int = LEVEL) -> bytes:
    """The PNG bytes of an image.

    Parameters
    ----------
    pixels
        ``height x width x 3`` (RGB) or ``x 4`` (RGBA) array of uint8.
    level
        deflate compression level (0-9).

    Returns
    -------
    bytes
    """
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in _COLOUR_TYPES:
        raise ValueError(f"expected a height x width x 3 or 4 array of uint8, not {pixels.dtype} {pixels.shape}")
    height, width, channels = pixels.shape
    rows = np.empty((height, width * channels + 1), dtype=np.uint8)
    rows[:, 0] = 0  # filter type 0 (none) on every row
    rows[:, 1:] = pixels.reshape(height, -1)
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPES[channels], 0, 0, 0)
    return b"".join([_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", zlib.compress(rows, level)),
                     _chunk(b"IEND", b"")])


def write_png(target: str | PathLike[str] | BinaryIO, pixels: np.ndarray, level: int = LEVEL) -> None:
    """Write an image (see :func:`encode_png`) to a path or a binary file object."""
    data = encode_png(pixels, level)
    if hasattr(target, "write"):
        target.write(data)
        return
    with open(target, "wb") as handle:
        handle.write(data)
