"""Decoding the DATA segment with numpy, and the scale values of FCS 3.1 section 3.2.18.

Integer values are bit-masked to the next power of two at or above ``$PnR``
("any bits above this are to be ignored", FCS 3.1 ``$PnB``/``$PnR``). Scale
values: ``$PnE`` f1,f2 with f1 > 0 gives ``f2 * 10**(f1 * x / $PnR)``; other
channels are divided by ``$PnG``; the time channel is multiplied by
``$TIMESTEP``. Values beyond float32's range become +-inf explicitly (no
overflowing cast; an overflow of the float64 arithmetic is +-inf too).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

import numpy as np

from ._channels import FLOAT32_MAX, Channel
from ._layout import Layout


#: Bytes read per system call; each chunk is checked for NaNs while it is in the CPU cache.
_CHUNK_BYTES = 1 << 22


def read_values(handle: BinaryIO, start: int, n_events: int, layout: Layout) -> np.ndarray:
    """Read ``n_events`` events from ``start`` as an events x channels array (native byte order).

    Integers come back as the smallest unsigned type that holds every channel,
    floats as float32/float64; a file mixing integer and float channels
    (FCS 3.2 ``$PnDATATYPE``) comes back as float64. Stored NaNs of any bit
    pattern come back as the quiet NaN (see :func:`_quiet_nans`).

    A file of one word type is read straight into the returned array (no
    intermediate buffer); only a non-native byte order is swapped, in place.
    ``handle`` should be unbuffered (``open(path, "rb", buffering=0)``), so the
    bytes are copied once, from the page cache to the array.
    """
    n_channels = len(layout.widths)
    uniform = len(set(layout.widths)) == 1 and len(set(layout.kinds)) == 1
    if uniform and layout.widths[0] in (1, 2, 4, 8) and layout.permutation is None:
        stored = np.dtype(f"{layout.order}{layout.kinds[0]}{layout.widths[0]}")
        values = np.empty((n_events, n_channels), dtype=stored.newbyteorder("="))
        has_nan = _read_into(handle, start, values, swap=not stored.isnative, check_nan=stored.kind == "f")
        return _quiet_nans(values) if has_nan else values
    buffer = np.empty(n_events * layout.event_size, dtype=np.uint8)
    _read_into(handle, start, buffer, swap=False, check_nan=False)
    if layout.permutation is not None:
        width = len(layout.permutation)
        buffer = buffer.reshape(-1, width)[:, list(layout.permutation)].reshape(-1)
    if uniform and layout.widths[0] in (1, 2, 4, 8):
        dtype = np.dtype(f"{layout.order}{layout.kinds[0]}{layout.widths[0]}")
        values = buffer.view(dtype).reshape(n_events, n_channels).astype(dtype.newbyteorder("="),
                                                                           copy=not dtype.isnative)
        return _quiet_nans(values) if dtype.kind == "f" else values
    return _read_mixed(buffer.reshape(n_events, layout.event_size), layout)


def _read_into(handle: BinaryIO, start: int, out: np.ndarray, *, swap: bool, check_nan: bool) -> bool:
    """Fill ``out`` with the bytes from ``start``; return whether a float chunk held a NaN (if ``check_nan``).

    Chunk by chunk, while it is in the CPU cache, the bytes of every word are
    reversed (``swap``: the file's byte order is not this machine's). The
    values are checked for NaNs by a second thread, one chunk behind the
    reading: numpy's maximum and the read both release the GIL, so the check
    costs no time where a second core is free (it is 20-25% of the read of a
    cached file otherwise; ``benchmarks/bench_fcs_read.py``). The thread ends
    before this returns, so no thread outlives the read (forking stays safe,
    :func:`msclab._parallel.fork_context`).

    Raises
    ------
    EOFError
        The file ends before ``out`` is full.
    """
    flat = out.reshape(-1)
    raw = memoryview(flat).cast("B")
    step = max(_CHUNK_BYTES // flat.itemsize, 1)
    chunks = range(0, flat.size, step)
    handle.seek(start)
    try:
        if not check_nan or len(chunks) < 2:
            for first in chunks:
                _read_chunk(handle, raw, flat, first, step, swap)
            return check_nan and bool(flat.size) and _has_nan(flat)
        with ThreadPoolExecutor(1, thread_name_prefix="msclab-fcs-nan") as checker:
            checks = [checker.submit(_has_nan, _read_chunk(handle, raw, flat, first, step, swap)) for first in chunks]
            return any([check.result() for check in checks])
    except EOFError:
        raise EOFError(f"DATA ends before byte {start + flat.nbytes}") from None


def _read_chunk(handle: BinaryIO, raw: memoryview, flat: np.ndarray, first: int, step: int, swap: bool) -> np.ndarray:
    """Read the values ``flat[first:first + step]`` from ``handle`` (in place, byte-swapped if ``swap``); return them."""
    chunk = flat[first:first + step]
    view = raw[first * flat.itemsize:(first + chunk.size) * flat.itemsize]
    filled = 0
    while filled < view.nbytes:  # a read may return fewer bytes than asked
        got = handle.readinto(view[filled:])
        if not got:
            raise EOFError
        filled += got
    if swap:
        chunk.byteswap(inplace=True)
    return chunk


def _has_nan(values: np.ndarray) -> bool:
    """Whether ``values`` (floats) hold a NaN of any bit pattern: NaN propagates through the maximum."""
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(np.isnan(values.max()))


def _quiet_nans(values: np.ndarray) -> np.ndarray:
    """``values`` (floats) with every NaN, signalling ones included, replaced by the quiet NaN.

    Stored floats can hold any bit pattern. Casting a signalling NaN (float32
    to float64, or to float32 from float64) raises the invalid-value
    floating-point flag, which numpy reports as a RuntimeWarning; testing and
    selecting it do not.
    """
    nan = np.isnan(values)
    return np.where(nan, values.dtype.type(np.nan), values) if nan.any() else values


def _read_mixed(rows: np.ndarray, layout: Layout) -> np.ndarray:
    """Channels of different widths or types, one column at a time."""
    out = np.empty((rows.shape[0], len(layout.widths)), dtype=_common_dtype(layout))
    offset = 0
    for i, (width, kind) in enumerate(zip(layout.widths, layout.kinds, strict=True)):
        block = rows[:, offset:offset + width]
        offset += width
        if width in (1, 2, 4, 8):
            column = np.ascontiguousarray(block).view(f"{layout.order}{kind}{width}")[:, 0]
            out[:, i] = _quiet_nans(column) if kind == "f" else column
        else:
            out[:, i] = _odd_width_uint(block, layout.order)
    return out


def _odd_width_uint(block: np.ndarray, order: str) -> np.ndarray:
    """Unsigned integers of 3, 5, 6 or 7 bytes (e.g. FlowJo's 24-bit ``$PnB``)."""
    width = block.shape[1]
    word = 4 if width < 4 else 8
    padded = np.zeros((block.shape[0], word), dtype=np.uint8)
    padded[:, :width] = block if order == "<" else block[:, ::-1]
    return padded.view(f"<u{word}")[:, 0]


def _common_dtype(layout: Layout) -> np.dtype:
    if set(layout.kinds) == {"f"}:
        return np.dtype(np.float64 if max(layout.widths) == 8 else np.float32)
    if "f" in layout.kinds:
        return np.dtype(np.float64)
    largest = max(layout.widths)
    return np.dtype(f"u{next(w for w in (1, 2, 4, 8) if w >= largest)}")


def mask_to_range(values: np.ndarray, channels: list[Channel], leniencies: list[str]) -> None:
    """Mask integer channels, in place, to the next power of two at or above ``$PnR``.

    Records how many values of each channel had bits set above that range.
    """
    for i, channel in enumerate(channels):
        if channel.datatype != "I" or not channel.range >= 1:
            continue
        range_bits = max((int(np.ceil(channel.range)) - 1).bit_length(), 1)
        if range_bits >= channel.bits or range_bits >= values.dtype.itemsize * 8:
            continue
        mask = (1 << range_bits) - 1
        column = values[:, i] if values.dtype.kind == "u" else values[:, i].astype(np.uint64)
        n_above = int(np.count_nonzero(column > mask))
        if n_above:
            values[:, i] = column & column.dtype.type(mask)
            note = (f"{n_above} values of {channel.name} had bits set above $PnR={channel.range:.15g}; masked to "
                    f"{range_bits} bits ($PnR, FCS 3.1 section 3.2.18)")
            if note not in leniencies:
                leniencies.append(note)


def scale_values(values: np.ndarray, channels: list[Channel], timestep: float) -> np.ndarray:
    """The float32 scale values of a raw events array (see the module docstring).

    Scaled columns are computed in float64 from the stored values and then
    rounded once to float32. Gain is not applied to log-amplified or time
    channels (the reader records that when such a gain is present).
    """
    scaled = to_float32(values)
    for i, channel in enumerate(channels):
        factor = _linear_factor(channel, timestep)
        if channel.log_decades > 0 and channel.datatype == "I":
            scaled[:, i] = _log_scale_values(values[:, i], channel)
        elif factor is not None:
            column = values[:, i].astype(np.float64)
            # a float64 overflow (absurd $TIMESTEP or $PnG) gives +-inf, which is beyond float32 anyway
            with np.errstate(over="ignore"):
                if channel.kind == "time":
                    column *= factor
                else:
                    column /= factor
            scaled[:, i] = to_float32(column)
    return scaled


def to_float32(values: np.ndarray) -> np.ndarray:
    """``values`` as float32, magnitudes beyond float32's range set to +-inf explicitly (a cast would overflow)."""
    if values.dtype == np.float64:
        beyond = np.abs(values) > FLOAT32_MAX
        if beyond.any():
            values = np.where(beyond, np.copysign(np.inf, values), values)
    return values.astype(np.float32, copy=values.dtype != np.float32)


def _log_scale_values(column: np.ndarray, channel: Channel) -> np.ndarray:
    """``f2 * 10**(f1 * x / $PnR)`` as float32, +inf where that is beyond float32.

    The channel's keywords were checked (``_channels._check_log_range``), so
    the exponent is small; only values stored above ``$PnR`` can scale beyond.
    """
    exponent = channel.log_decades * column.astype(np.float64) / channel.range
    fits = exponent <= math.log10(FLOAT32_MAX / channel.log_offset)
    scaled = np.full(exponent.shape, np.inf, dtype=np.float32)
    scaled[fits] = channel.log_offset * 10 ** exponent[fits]
    return scaled


def _linear_factor(channel: Channel, timestep: float) -> float | None:
    """What a linear channel is multiplied (time) or divided (gain) by; ``None`` when 1."""
    if channel.kind == "time":
        return None if timestep == 1.0 else timestep
    if channel.gain in (0.0, 1.0):
        return None
    return channel.gain
