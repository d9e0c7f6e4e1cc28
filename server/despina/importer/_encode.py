"""Neptune ingest messages for imported rows, encoded as the client encodes them (protocol §3).

Float points are the bulk of an export, and a Python call per point would cap an import far
below a million points a second. So a series' points are encoded column-wise with numpy: one
``UpdateRunSnapshot`` per point (its step, its own timestamp and one ``append`` entry), each
varint in its canonical width, framed as an ``UpdateRunSnapshots.snapshots`` entry. The bytes
are exactly what ``neptune_scale.wire`` produces for the same snapshot (the tests compare
them), so the store decodes them on its vectorized path. Everything else (single values, string
and histogram points, file references, tags) is encoded one by one with ``neptune_scale``'s
encoder.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from neptune_scale import wire as enc

__all__ = ["MICROS", "encode_float_points", "snapshot", "varint_widths"]

MICROS = 1_000_000  # Step.micro counts millionths; exported steps are decimal(18, 6)
_NS_PER_MS = 1_000_000
_MS_PER_S = 1000
_FLOAT_HEADER = b"\x12\x09\x09"  # entry.value (9 bytes) holding Value.float64
_MAX_VARINT = 10

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]


def varint_widths(values: U64) -> I64:
    """Bytes of each value's canonical varint (1 for zero)."""
    widths = np.ones(len(values), dtype=np.int64)
    rest = values >> np.uint64(7)
    while rest.any():
        more = rest > 0
        widths += more
        rest >>= np.uint64(7)
    return widths


def _put_varints(out: U8, at: I64, values: U64, widths: I64) -> None:
    """Write each value's varint at ``at`` (rows whose width is 0 write nothing)."""
    rest = values.copy()
    for j in range(int(widths.max(initial=0))):
        rows = widths > j
        byte = (rest[rows] & np.uint64(0x7F)).astype(np.uint8)
        byte |= np.where(widths[rows] > j + 1, 0x80, 0).astype(np.uint8)
        out[at[rows] + j] = byte
        rest >>= np.uint64(7)


def _optional_field(out: U8, at: I64, tag: int, values: U64) -> I64:
    """A proto3 scalar varint field, left out where the value is 0; returns the bytes written."""
    present = values != 0
    widths = np.where(present, varint_widths(values), 0)
    rows = np.flatnonzero(present)
    out[at[rows]] = tag
    _put_varints(out, at + 1, values, widths)
    return np.where(present, widths + 1, 0)


def _message_sizes(first: U64, second: U64) -> I64:
    """Bytes of a message holding two optional varint fields (tags 1 and 2)."""
    size = np.zeros(len(first), dtype=np.int64)
    for values in (first, second):
        size += np.where(values != 0, varint_widths(values) + 1, 0)
    return size


CHUNK_POINTS = 32_768  # bounds the index matrices below (points × entry bytes × 8 bytes)


def encode_float_points(path: str, steps_micro: I64, times_ms: I64, values: F64) -> bytes:
    """Framed snapshots, one per point: ``step``, ``timestamp`` and ``append[path].float64``.

    ``steps_micro`` are steps in millionths (non-negative), ``times_ms`` epoch milliseconds.
    """
    return b"".join(
        _encode_chunk(
            path,
            steps_micro[i : i + CHUNK_POINTS],
            times_ms[i : i + CHUNK_POINTS],
            values[i : i + CHUNK_POINTS],
        )
        for i in range(0, len(values), CHUNK_POINTS)
    )


def _encode_chunk(path: str, steps_micro: I64, times_ms: I64, values: F64) -> bytes:
    n = len(values)
    if n == 0:
        return b""
    whole = (steps_micro // MICROS).astype(np.uint64)
    micro = (steps_micro % MICROS).astype(np.uint64)
    seconds = (times_ms // _MS_PER_S).astype(np.int64).view(np.uint64)  # negative: 10 bytes
    nanos = ((times_ms % _MS_PER_S) * _NS_PER_MS).astype(np.uint64)
    step_size = _message_sizes(whole, micro)
    time_size = _message_sizes(seconds, nanos)
    key = path.encode("utf-8")
    entry = enc.field(0x0A, key) + _FLOAT_HEADER
    append_head = b"\x42" + enc.varint(len(entry) + 8) + entry
    body = 2 + step_size + 2 + time_size + len(append_head) + 8  # step, time: tag + 1-byte length
    frame = 1 + varint_widths(body.astype(np.uint64))
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum((frame + body)[:-1], out=starts[1:])
    out = np.zeros(int(starts[-1] + frame[-1] + body[-1]), dtype=np.uint8)
    out[starts] = 0x0A
    _put_varints(out, starts + 1, body.astype(np.uint64), frame - 1)
    at = starts + frame
    out[at] = 0x0A
    out[at + 1] = step_size
    at = at + 2
    at = at + _optional_field(out, at, 0x08, whole)
    at = at + _optional_field(out, at, 0x10, micro)
    out[at] = 0x12
    out[at + 1] = time_size
    at = at + 2
    at = at + _optional_field(out, at, 0x08, seconds)
    at = at + _optional_field(out, at, 0x10, nanos)
    head = np.frombuffer(append_head, dtype=np.uint8)
    out[at[:, None] + np.arange(len(head))] = head
    at = at + len(head)
    out[at[:, None] + np.arange(8)] = (
        np.ascontiguousarray(values, dtype="<f8").view(np.uint8).reshape(n, 8)
    )
    return out.tobytes()


def snapshot(
    step_micro: int | None, time_ms: int | None, entries: bytes, *, tag_entries: bytes = b""
) -> bytes:
    """One framed snapshot of already encoded map entries (assign / append / modify_sets)."""
    body = b""
    if step_micro is not None:
        body += enc.field(enc.TAG_STEP, _two_fields(*divmod(step_micro, MICROS)))
    if time_ms is not None:
        seconds, ms = divmod(time_ms, _MS_PER_S)
        body += enc.timestamp_field(seconds, ms * _NS_PER_MS)
    return enc.frame_snapshot(body + entries + tag_entries)


def _two_fields(first: int, second: int) -> bytes:
    body = b""
    if first:
        body += b"\x08" + enc.varint(first)
    if second:
        body += b"\x10" + enc.varint(second)
    return body
