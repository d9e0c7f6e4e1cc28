"""The ingest wire layout we write and read by hand, in one place (protocol §3).

Public: the server (``despina.store``) and tools import it; ``__all__`` is the contract.

The hot path cannot afford building protobuf objects per call, so snapshots are encoded straight
into bytes here, and the store reads the common case (float metrics) back without protobuf.
Field numbers come from neptune-api's ``neptune_pb/ingest/v1/common.proto`` and
``pub/ingest.proto``; ``tests/server/store/test_store_wire_roundtrip.py`` pins the layout
against the generated classes both ways.

The layout in short (tag = field number << 3 | wire type; 0 varint, 1 fixed64, 2 bytes):

* a snapshot is framed as one ``UpdateRunSnapshots.snapshots`` entry: ``0x0a len snapshot``;
  the operation log stores them framed, so consecutive records are a batch's body as it is;
* ``UpdateRunSnapshot``: ``step`` (``0x0a``), ``timestamp`` (``0x12``), ``assign`` (``0x22``),
  ``modify_sets`` (``0x2a``), ``append`` (``0x42``), ``preview`` (``0x52``);
* ``Step{whole=1, micro=2}``: six-decimal fixed point (``micro`` < 10**6, the official
  client's rounding); step 0 is a present but empty message (protocol §8.4.10);
* ``Timestamp{seconds=1, nanos=2}``: negative seconds travel as 64-bit two's complement;
* a float point is the map entry ``0x0a len key`` + :data:`FLOAT_VALUE_HEADER` + 8 bytes of a
  little-endian double: fixed width once the key is known, which both the client's encoders
  and the store's vectorized decoder rely on.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from datetime import datetime

__all__ = [
    "FIELD_APPEND",
    "FIELD_STEP",
    "FIELD_TIMESTAMP",
    "FLOAT_BYTES",
    "FLOAT_VALUE_HEADER",
    "INT64_MAX",
    "INT64_MIN",
    "MICROS_PER_STEP",
    "MS_PER_SECOND",
    "NANOS_PER_MS",
    "NANOS_PER_SECOND",
    "SMALL_STEP_FIELDS",
    "STEP_FIELDS",
    "STEP_FIELD_14BIT",
    "STEP_FIELD_21BIT",
    "TAG_APPEND",
    "TAG_ASSIGN",
    "TAG_MODIFY_SETS",
    "TAG_PREVIEW",
    "TAG_SNAPSHOTS",
    "TAG_STEP",
    "TAG_TIMESTAMP",
    "TIMESTAMP_FIELDS",
    "WIRE_BYTES",
    "WIRE_VARINT",
    "datetime_parts",
    "decode_varint",
    "decompose_step",
    "encode_create_run",
    "fast_step_field",
    "field",
    "float_entry_key",
    "float_entry_prefix",
    "frame_snapshot",
    "map_entry",
    "modify_string_set_entry",
    "preview_field",
    "run_operation_batch_header",
    "run_operation_create",
    "run_operation_prefix",
    "step_field",
    "step_message",
    "step_value",
    "timestamp_field",
    "timestamp_message",
    "timestamp_ms",
    "value_bool",
    "value_datetime",
    "value_file_ref",
    "value_float",
    "value_histogram",
    "value_int",
    "value_string",
    "value_string_set",
    "varint",
]

MICROS_PER_STEP = 1_000_000  # Step{whole, micro}: six decimal places (protocol §3.3)
NANOS_PER_SECOND = 1_000_000_000
MS_PER_SECOND = 1000
NANOS_PER_MS = 1_000_000
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_UINT64_MASK = 2**64 - 1

_pack_double = struct.Struct("<d").pack
_pack_float = struct.Struct("<f").pack
_SMALL_VARINTS = tuple(bytes((i,)) for i in range(0x80))

# Tags (field number << 3 | wire type) used below; 2 = length-delimited, 0 = varint, 1 = fixed64.
TAG_SNAPSHOTS = 0x0A  # UpdateRunSnapshots.snapshots = 1
TAG_STEP = 0x0A  # UpdateRunSnapshot.step = 1
TAG_TIMESTAMP = 0x12  # UpdateRunSnapshot.timestamp = 2
TAG_ASSIGN = 0x22  # UpdateRunSnapshot.assign = 4
TAG_MODIFY_SETS = 0x2A  # UpdateRunSnapshot.modify_sets = 5
TAG_APPEND = 0x42  # UpdateRunSnapshot.append = 8
TAG_PREVIEW = 0x52  # UpdateRunSnapshot.preview = 10
WIRE_VARINT, WIRE_BYTES = 0, 2  # the wire types a reader checks (tag & 7)
FIELD_STEP, FIELD_TIMESTAMP, FIELD_APPEND = 1, 2, 8  # UpdateRunSnapshot field numbers
STEP_FIELDS = {1: "whole", 2: "micro"}  # Step's varint fields by number
TIMESTAMP_FIELDS = {1: "seconds", 2: "nanos"}  # google.protobuf.Timestamp's
FLOAT_VALUE_HEADER = b"\x12\x09\x09"  # map entry .value (length 9) holding Value.float64 (0x09)
FLOAT_BYTES = 8


def varint(value: int) -> bytes:
    """Base-128 varint of a non-negative integer below 2**64 (ValueError for a negative one:
    signed fields pass their two's complement, ``value & (2**64 - 1)``)."""
    if 0 <= value < 0x80:
        return _SMALL_VARINTS[value]
    if value < 0:
        raise ValueError(f"varint of a negative number: {value}")
    if value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(raw: bytes, pos: int) -> tuple[int, int]:
    """``(value, position after it)`` of the varint at ``pos``; ValueError when truncated."""
    value, shift = 0, 0
    while pos < len(raw):
        byte = raw[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("truncated varint")


def field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field: tag byte, length, payload."""
    return bytes((tag,)) + varint(len(payload)) + payload


def frame_snapshot(snapshot: bytes) -> bytes:
    """A snapshot framed as one ``UpdateRunSnapshots.snapshots`` entry."""
    return b"\x0a" + varint(len(snapshot)) + snapshot


def decompose_step(step: float | int) -> tuple[int, int]:
    """``(whole, micro)`` of a step: six-decimal fixed point, as the official client rounds it."""
    if type(step) is int:
        return step, 0
    micro_total = int(round(step * MICROS_PER_STEP, 6))
    return micro_total // MICROS_PER_STEP, micro_total % MICROS_PER_STEP


def step_value(whole: int, micro: int) -> float:
    """The step a ``Step{whole, micro}`` stands for (readers check ``micro`` < 10**6 first)."""
    return whole + micro / MICROS_PER_STEP


def step_message(step: float | int) -> bytes:
    whole, micro = decompose_step(step)
    body = b""
    if whole:
        body += b"\x08" + varint(whole)
    if micro:
        body += b"\x10" + varint(micro)
    return body


def step_field(step: float | int) -> bytes:
    """``UpdateRunSnapshot.step``; step 0 is a present but empty message (protocol §8.4.10)."""
    return field(TAG_STEP, step_message(step))


SMALL_STEP_FIELDS = (b"\x0a\x00", *(b"\x0a\x02\x08" + bytes((i,)) for i in range(1, 0x80)))
# The step fields of integer steps below 2**14 and 2**21 (a 2- or 3-byte varint in Step.whole),
# as one little-endian int: field tag, lengths and continuation bits, with the step's 7-bit
# groups shifted in at bytes 3-5. One int.to_bytes is cheaper than building a varint.
STEP_FIELD_14BIT = 0x0A | 0x03 << 8 | 0x08 << 16 | 0x80 << 24
STEP_FIELD_21BIT = 0x0A | 0x04 << 8 | 0x08 << 16 | 0x80 << 24 | 0x80 << 32


def fast_step_field(step: float | int) -> bytes:
    """:func:`step_field`, with shortcuts for integer steps below 2**21. The hot path
    (``Recorder.log_metrics``) inlines the same expressions; a test checks they agree."""
    if type(step) is int and 0 <= step < 0x200000:
        if step < 0x80:
            return SMALL_STEP_FIELDS[step]
        if step < 0x4000:
            groups = (step & 0x7F) << 24 | (step & 0x3F80) << 25
            return (STEP_FIELD_14BIT | groups).to_bytes(5, "little")
        groups = (step & 0x7F) << 24 | (step & 0x3F80) << 25 | (step & 0x1FC000) << 26
        return (STEP_FIELD_21BIT | groups).to_bytes(6, "little")
    return step_field(step)


def timestamp_message(seconds: int, nanos: int) -> bytes:
    body = b""
    if seconds:
        body += b"\x08" + varint(seconds & _UINT64_MASK)
    if nanos:
        body += b"\x10" + varint(nanos)
    return body


def timestamp_field(seconds: int, nanos: int, tag: int = TAG_TIMESTAMP) -> bytes:
    return field(tag, timestamp_message(seconds, nanos))


def timestamp_ms(seconds: int, nanos: int) -> int:
    """Epoch milliseconds of a ``Timestamp`` (what the store keeps; sub-ms digits dropped)."""
    return seconds * MS_PER_SECOND + nanos // NANOS_PER_MS


def datetime_parts(value: datetime) -> tuple[int, int]:
    """``(seconds, nanos)`` since the epoch; naive datetimes are local time (as the official)."""
    ts = value.timestamp()
    seconds = math.floor(ts)
    return seconds, round((ts - seconds) * 1_000_000) * 1000


# Value oneof members (common.proto ``Value``); each returns the encoded Value message.
def value_float(value: float) -> bytes:
    return b"\x09" + _pack_double(value)


def value_int(value: int) -> bytes:
    return b"\x18" + varint(value & _UINT64_MASK)


def value_bool(value: bool) -> bytes:
    return b"\x28\x01" if value else b"\x28\x00"


def value_string(value: str) -> bytes:
    return field(0x32, value.encode("utf-8"))


def value_datetime(value: datetime) -> bytes:
    return field(0x42, timestamp_message(*datetime_parts(value)))


def value_string_set(values: Iterable[str]) -> bytes:
    body = b"".join(field(0x0A, v.encode("utf-8")) for v in values)
    return field(0x62, body)


def value_file_ref(path: str, size_bytes: int, mime_type: str) -> bytes:
    body = field(0x0A, path.encode("utf-8"))
    if size_bytes:
        body += b"\x10" + varint(size_bytes & _UINT64_MASK)
    if mime_type:
        body += field(0x1A, mime_type.encode("utf-8"))
    return field(0x6A, body)


def value_histogram(
    bin_edges: list[float], counts: list[int] | None, densities: list[float] | None
) -> bytes:
    body = b""
    if bin_edges:
        body += field(0x0A, struct.pack(f"<{len(bin_edges)}d", *bin_edges))
    if counts is not None:
        packed = b"".join(varint(c) for c in counts)
        body += field(0x22, field(0x0A, packed) if packed else b"")
    elif densities is not None:
        packed = struct.pack(f"<{len(densities)}d", *densities)
        body += field(0x2A, field(0x0A, packed) if packed else b"")
    return field(0x72, body)


def map_entry(tag: int, key: str, value_message: bytes) -> bytes:
    """One entry of a ``map<string, Value>`` (or ``map<string, ModifySet>``) field."""
    return field(tag, field(0x0A, key.encode("utf-8")) + field(0x12, value_message))


def float_entry_prefix(key: str) -> bytes:
    """An ``append`` entry of a float point up to its 8 value bytes (tag and length included)."""
    key_field = field(0x0A, key.encode("utf-8"))
    entry_len = len(key_field) + len(FLOAT_VALUE_HEADER) + FLOAT_BYTES
    return bytes((TAG_APPEND,)) + varint(entry_len) + key_field + FLOAT_VALUE_HEADER


def float_entry_key(prefix: bytes) -> str | None:
    """The key of a map entry's bytes before its 8 value bytes when they are
    ``0x0a len key`` + :data:`FLOAT_VALUE_HEADER` (a float point), else None."""
    if not prefix.endswith(FLOAT_VALUE_HEADER) or prefix[:1] != b"\x0a":
        return None
    try:
        length, pos = decode_varint(prefix, 1)
    except ValueError:
        return None
    if pos + length + len(FLOAT_VALUE_HEADER) != len(prefix):
        return None
    try:
        return prefix[pos : pos + length].decode("utf-8")
    except UnicodeDecodeError:
        return None


def modify_string_set_entry(path: str, changes: dict[str, int]) -> bytes:
    """A ``modify_sets`` entry: tag -> SET_OPERATION (1 ADD, 2 REMOVE)."""
    entries = b"".join(
        field(0x0A, field(0x0A, tag.encode("utf-8")) + b"\x10" + varint(op))
        for tag, op in changes.items()
    )
    return map_entry(TAG_MODIFY_SETS, path, field(0x0A, entries))


def preview_field(completion_ratio: float | None) -> bytes:
    body = b"\x08\x01"
    if completion_ratio:
        body += b"\x15" + _pack_float(completion_ratio)
    return field(TAG_PREVIEW, body)


def encode_create_run(
    *,
    family: str,
    creation_time: tuple[int, int],
    experiment_name: str | None,
    fork: tuple[str, str, float | int] | None,
    inherit_configs: bool,
) -> bytes:
    """A ``neptune.ingest.v1.Run`` message; ``fork`` is (parent project, parent run id, step)."""
    body = b""
    if fork is not None:
        parent_project, parent_run_id, fork_step = fork
        fork_point = (
            field(0x0A, parent_project.encode("utf-8"))
            + field(0x12, parent_run_id.encode("utf-8"))
            + field(0x22, step_message(fork_step))
        )
        body += field(0x12, fork_point)
    body += timestamp_field(*creation_time, tag=0x1A)
    body += field(0x22, family.encode("utf-8"))
    if experiment_name is not None:
        body += field(0x2A, experiment_name.encode("utf-8"))
    body += b"\x48\x01" if inherit_configs else b"\x48\x00"
    return body


def run_operation_prefix(project: str, run_id: str) -> bytes:
    """The ``project`` and ``run_id`` fields every RunOperation starts with."""
    return field(0x0A, project.encode("utf-8")) + field(0x12, run_id.encode("utf-8"))


def run_operation_create(prefix: bytes, create_run: bytes) -> bytes:
    return prefix + field(0x32, create_run)


def run_operation_batch_header(prefix: bytes, batch_length: int) -> bytes:
    """What precedes the concatenated framed snapshots of an ``update_batch`` operation."""
    return prefix + b"\x42" + varint(batch_length)
