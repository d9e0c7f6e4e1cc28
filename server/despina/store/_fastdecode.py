"""Vectorized decoding of the usual update: snapshots of float metrics sharing one wire layout.

A training loop sends snapshots that differ only in numbers: the same tags, keys and lengths,
with the step, the timestamp and the values in varints and doubles of equal width. Snapshots of
equal byte length are stacked as rows of a byte matrix; one snapshot is parsed in Python to find
where the numbers sit, every other row is checked to have the same bytes everywhere else (and
varints of the same width), and the numbers are read out column-wise with numpy. Anything else —
assigns, tags, previews, non-float values — returns None, and ``_decode`` takes the general path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from neptune_scale import wire
from neptune_scale.wire import FLOAT_BYTES, FLOAT_VALUE_HEADER
from neptune_scale.wire import decode_varint as _varint

from despina.store._rules import MAX_TIME_S, MIN_TIME_S, NANOS_PER_S

__all__ = ["Uniform", "decode_uniform", "timestamps_ms"]

_VARINT_MORE = 0x80  # a varint byte's continuation bit
_SIGNATURE_BYTES = 32  # the step and the timestamp come first and fit in this many bytes


def _raw_batch_class() -> type:
    f = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="despina/store/_raw_batch.proto", package="despina.store.raw", syntax="proto3"
    )
    msg = proto.message_type.add(name="RawBatch")
    msg.field.add(name="snapshots", number=1, type=f.TYPE_BYTES, label=f.LABEL_REPEATED)
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(proto.name)
    except KeyError:
        pool.Add(proto)
    cls: type = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("despina.store.raw.RawBatch")
    )
    return cls


_RawBatch = _raw_batch_class()


@dataclass
class _Layout:
    """Where the numbers sit in one snapshot's bytes (offsets, varint widths)."""

    size: int
    varints: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (offset, width)
    floats: list[tuple[str, int]] = field(default_factory=list)  # (path, offset of the double)
    has_step: bool = False
    has_timestamp: bool = False


def _submessage(raw: bytes, start: int, end: int, names: dict[int, str], layout: _Layout) -> bool:
    pos = start
    while pos < end:
        tag, pos = _varint(raw, pos)
        name = names.get(tag >> 3)
        if tag & 7 != wire.WIRE_VARINT or name is None or name in layout.varints:
            return False
        _, after = _varint(raw, pos)
        layout.varints[name] = (pos, after - pos)
        pos = after
    return pos == end


def _parse_layout(raw: bytes) -> _Layout | None:
    layout, pos = _Layout(len(raw)), 0
    try:
        while pos < len(raw):
            tag, pos = _varint(raw, pos)
            number, wire_type = tag >> 3, tag & 7
            length, pos = _varint(raw, pos)
            end = pos + length
            if wire_type != wire.WIRE_BYTES or end > len(raw):
                return None
            if number == wire.FIELD_STEP and not layout.has_step:
                layout.has_step = _submessage(raw, pos, end, wire.STEP_FIELDS, layout)
                if not layout.has_step:
                    return None
            elif number == wire.FIELD_TIMESTAMP and not layout.has_timestamp:
                layout.has_timestamp = _submessage(raw, pos, end, wire.TIMESTAMP_FIELDS, layout)
                if not layout.has_timestamp:
                    return None
            elif number == wire.FIELD_APPEND:
                found = _float_entry(raw, pos, end)
                if found is None:
                    return None
                layout.floats.append(found)
            else:
                return None
            pos = end
    except (ValueError, IndexError):  # truncated varints, keys that are not UTF-8
        return None
    return layout


def _float_entry(raw: bytes, start: int, end: int) -> tuple[str, int] | None:
    if end - start <= len(FLOAT_VALUE_HEADER) + FLOAT_BYTES or raw[start] != 0x0A:
        return None
    length, pos = _varint(raw, start + 1)
    key_end = pos + length
    if raw[key_end:end] != FLOAT_VALUE_HEADER + raw[end - FLOAT_BYTES : end]:
        return None
    if end - key_end != len(FLOAT_VALUE_HEADER) + FLOAT_BYTES:
        return None
    return raw[pos:key_end].decode("utf-8"), end - FLOAT_BYTES


def _varints_fit(rows: npt.NDArray[np.uint8], layout: _Layout) -> bool:
    """Every row's varints have the template's widths (continuation bits in the same places)."""
    for offset, width in layout.varints.values():
        if width > 1 and not (rows[:, offset : offset + width - 1] & _VARINT_MORE).all():
            return False
        if (rows[:, offset + width - 1] & _VARINT_MORE).any():
            return False
    return True


def _same_elsewhere(rows: npt.NDArray[np.uint8], layout: _Layout) -> bool:
    """Blank the numbers (rows must be writable), then every row must equal the first."""
    for offset, width in layout.varints.values():
        rows[:, offset : offset + width] = 0
    for _, offset in layout.floats:
        rows[:, offset : offset + FLOAT_BYTES] = 0
    return bool((rows == rows[0]).all())


def _read_varint(rows: npt.NDArray[np.uint8], offset: int, width: int) -> npt.NDArray[np.uint64]:
    """The varints as unsigned 64-bit values (view as int64 for the signed fields)."""
    value = np.zeros(len(rows), dtype=np.uint64)
    for j in range(width):
        value |= (rows[:, offset + j] & 0x7F).astype(np.uint64) << np.uint64(7 * j)
    return value


def _same_shape_groups(rows: npt.NDArray[np.uint8]) -> list[npt.NDArray[np.int64]]:
    """Split rows of one length by where their leading varints end (steps and timestamps of
    other widths move the fields after them, even when the total length matches)."""
    head = np.packbits(rows[:, :_SIGNATURE_BYTES] >= _VARINT_MORE, axis=1)
    if (head == head[0]).all():
        return [np.arange(len(rows))]
    # One integer per row (the signature is at most 4 bytes): np.unique over rows (axis=0)
    # sorts them as structured values, ~10x slower, which made varied timestamp widths costly.
    keys = np.zeros((len(head), 8), dtype=np.uint8)
    keys[:, : head.shape[1]] = head
    _, inverse = np.unique(keys.view(np.uint64).ravel(), return_inverse=True)
    inverse = inverse.ravel()
    return [np.flatnonzero(inverse == g) for g in range(int(inverse.max()) + 1)]


def _decode_group(
    cols: Uniform,
    parts: _Parts,
    index: npt.NDArray[np.int64],
    rows: npt.NDArray[np.uint8],
    raws: list[bytes],
) -> bool:
    """Check one group of rows against the layout of its first snapshot and read it out.
    ``rows`` is a private copy: the check blanks the numbers in place."""
    layout = _parse_layout(raws[int(index[0])])
    if layout is None or not _varints_fit(rows, layout):
        return False
    _fill(cols, parts, index, rows, layout)
    return _same_elsewhere(rows, layout)


def decode_uniform(raw_batch: bytes) -> Uniform | None:
    """Decode serialized ``UpdateRunSnapshots``; None when the fast path does not apply."""
    raws = list(_RawBatch.FromString(raw_batch).snapshots)  # type: ignore[attr-defined]
    n = len(raws)
    lengths = np.fromiter(map(len, raws), dtype=np.int64, count=n)
    cols = Uniform(
        np.zeros(n),
        np.zeros(n, dtype=bool),
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=bool),
        np.zeros(n, dtype=bool),
    )
    parts: _Parts = {}
    sizes = np.unique(lengths).tolist()
    for size in sizes:
        index = np.flatnonzero(lengths == size)
        chosen = raws if len(sizes) == 1 else [raws[i] for i in index.tolist()]
        rows = np.frombuffer(b"".join(chosen), dtype=np.uint8).reshape(len(index), size)
        for group in _same_shape_groups(rows):
            if not _decode_group(cols, parts, index[group], rows[group], raws):
                return None
    for path, pieces in parts.items():
        index = np.concatenate([p[0] for p in pieces])
        values = np.concatenate([p[1] for p in pieces])
        order = np.argsort(index, kind="stable")
        cols.floats[path] = (index[order], values[order])
    return cols


_Parts = dict[str, list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]]


@dataclass
class Uniform:
    """Per-snapshot columns and, per float attribute, (snapshot indexes, values).

    Steps and times as in ``_decode.DecodedUpdate``: a step whose ``micro`` is not below 10^6 is
    NaN; ``bad_timestamp`` marks times outside ``_rules.time_problem``'s range (their ms are 0).
    """

    steps: npt.NDArray[np.float64]
    has_step: npt.NDArray[np.bool_]
    timestamps: npt.NDArray[np.int64]
    has_timestamp: npt.NDArray[np.bool_]
    bad_timestamp: npt.NDArray[np.bool_]
    floats: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = field(
        default_factory=dict
    )


def _fill(
    cols: Uniform,
    parts: _Parts,
    index: npt.NDArray[np.int64],
    rows: npt.NDArray[np.uint8],
    layout: _Layout,
) -> None:
    v = layout.varints

    def number(name: str) -> npt.NDArray[np.uint64]:
        return _read_varint(rows, *v[name]) if name in v else np.zeros(len(rows), dtype=np.uint64)

    if layout.has_step:
        micro = number("micro")
        steps = number("whole").astype(np.float64) + micro / wire.MICROS_PER_STEP
        cols.steps[index] = np.where(micro < wire.MICROS_PER_STEP, steps, np.nan)
        cols.has_step[index] = True
    if layout.has_timestamp:
        ms, bad = timestamps_ms(number("seconds").view(np.int64), number("nanos").view(np.int64))
        cols.timestamps[index] = ms
        cols.bad_timestamp[index] = bad
        cols.has_timestamp[index] = True
    for path, offset in layout.floats:
        values = rows[:, offset : offset + FLOAT_BYTES].copy().view("<f8").ravel()
        parts.setdefault(path, []).append((index, values))


def timestamps_ms(
    seconds: npt.NDArray[np.int64], nanos: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Epoch ms of Timestamps, and which lie outside readers' range (their ms are set to 0)."""
    bad = (seconds < MIN_TIME_S) | (seconds > MAX_TIME_S) | (nanos < 0) | (nanos >= NANOS_PER_S)
    ms = np.where(bad, 0, seconds * wire.MS_PER_SECOND + nanos // wire.NANOS_PER_MS)
    return ms.astype(np.int64), bad
