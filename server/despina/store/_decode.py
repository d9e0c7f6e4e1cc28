"""Turn an update (``update_batch`` or ``update``) into columns the rules can check in bulk.

Iterating protobuf maps from Python costs about a microsecond per entry, too slow for a million
points a second. So the snapshots are parsed a second time with a *view* message of the same wire
format whose map fields are declared ``repeated bytes`` (a map is a repeated entry message on the
wire): each ``append`` entry arrives as raw bytes. Entries that carry a float (``Value.float64``)
have a fixed layout, ``0x0a len key`` + ``wire.FLOAT_VALUE_HEADER`` + 8 bytes (see
``neptune_scale.wire``), so all points of one attribute are grouped by their prefix and turned
into one numpy array without touching each value in Python. Every other entry is decoded
properly with the neptune-api classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2
from neptune_scale import wire

from despina.store._fastdecode import decode_uniform
from despina.store._operation import RawBatchOperation
from despina.store._rules import time_problem

__all__ = ["DecodedUpdate", "FloatGroup", "SnapshotItem", "decode_update"]


def _build_view_classes() -> tuple[type[Message], type[Message], type[Message]]:
    proto = descriptor_pb2.FileDescriptorProto(
        name="despina/store/_snapshot_view.proto", package="despina.store.view", syntax="proto3"
    )
    proto.dependency.append(common_pb2.DESCRIPTOR.name)
    proto.dependency.append("google/protobuf/timestamp.proto")
    # (field name, number, message type or None for bytes, repeated)
    _add_message(proto, "ValueEntry", [
        ("key", 1, "string", False), ("value", 2, ".neptune.ingest.v1.Value", False),
    ])  # fmt: skip
    _add_message(proto, "SetEntry", [
        ("key", 1, "string", False), ("value", 2, ".neptune.ingest.v1.ModifySet", False),
    ])  # fmt: skip
    _add_message(proto, "Snapshot", [
        ("step", 1, ".neptune.ingest.v1.Step", False),
        ("timestamp", 2, ".google.protobuf.Timestamp", False),
        ("preview", 10, ".neptune.ingest.v1.Preview", False),
        ("assign", 4, None, True),
        ("modify_sets", 5, None, True),
        ("append", 8, None, True),
    ])  # fmt: skip
    _add_message(proto, "Batch", [("snapshots", 1, ".despina.store.view.Snapshot", True)])
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(proto.name)
    except KeyError:
        pool.Add(proto)
    get = message_factory.GetMessageClass
    return (
        get(pool.FindMessageTypeByName("despina.store.view.Batch")),
        get(pool.FindMessageTypeByName("despina.store.view.ValueEntry")),
        get(pool.FindMessageTypeByName("despina.store.view.SetEntry")),
    )


def _add_message(
    proto: descriptor_pb2.FileDescriptorProto,
    name: str,
    fields: list[tuple[str, int, str | None, bool]],
) -> None:
    """One message type: ``"string"`` and None (bytes) fields are scalars, others messages."""
    f = descriptor_pb2.FieldDescriptorProto
    message = proto.message_type.add(name=name)
    for field_name, number, kind, repeated in fields:
        label = f.LABEL_REPEATED if repeated else f.LABEL_OPTIONAL
        if kind is None:
            message.field.add(name=field_name, number=number, type=f.TYPE_BYTES, label=label)
        elif kind == "string":
            message.field.add(name=field_name, number=number, type=f.TYPE_STRING, label=label)
        else:
            message.field.add(
                name=field_name, number=number, type=f.TYPE_MESSAGE, label=label, type_name=kind
            )


_Batch, _ValueEntry, _SetEntry = _build_view_classes()
_FloatParts = dict[str, list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]]


@dataclass(slots=True)
class SnapshotItem:
    """One assign / modify_sets / non-float append entry, in the order it arrived."""

    snapshot: int
    kind: str  # "assign" | "modify" | "append"
    path: str
    value: common_pb2.Value | common_pb2.ModifySet


@dataclass(slots=True)
class FloatGroup:
    """All float points of one attribute in the update: snapshot indexes and values."""

    path: str
    snapshots: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]


@dataclass(slots=True)
class DecodedUpdate:
    """Per-snapshot columns plus the entries. ``has_step`` False = the snapshot had no step.

    Out-of-range numbers are kept visible for the rules instead of wrapping: a step whose
    ``Step.micro`` is not below 10^6 is NaN, a ``Step.whole`` of any size becomes a float (so
    2**64-1 is 1.8e19, not -1), and ``bad_timestamp`` marks times outside
    ``_rules.time_problem``'s range (their ``timestamps`` are 0).
    """

    steps: npt.NDArray[np.float64]
    has_step: npt.NDArray[np.bool_]
    timestamps: npt.NDArray[np.int64]
    has_timestamp: npt.NDArray[np.bool_]
    bad_timestamp: npt.NDArray[np.bool_]
    preview: npt.NDArray[np.bool_]
    completion: npt.NDArray[np.float64]  # NaN when not a preview
    items: list[SnapshotItem] = field(default_factory=list)
    floats: list[FloatGroup] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.steps)


def decode_update(operation: ingest_pb2.RunOperation | RawBatchOperation) -> DecodedUpdate:
    """Decode the update of ``operation`` (``update_batch`` or a lone ``update``).

    Raises ``DecodeError`` when the still serialized batch of a ``RawBatchOperation`` is not a
    valid ``UpdateRunSnapshots`` (the fast path accepts only well-formed snapshots).
    """
    if isinstance(operation, RawBatchOperation):
        raw = operation.update_batch
    elif operation.HasField("update_batch"):
        raw = operation.update_batch.SerializeToString()
    else:
        raw = _lone_update_as_batch(operation)
    uniform = decode_uniform(raw)
    if uniform is not None:
        n = len(uniform.steps)
        return DecodedUpdate(
            steps=uniform.steps,
            has_step=uniform.has_step,
            timestamps=uniform.timestamps,
            has_timestamp=uniform.has_timestamp,
            bad_timestamp=uniform.bad_timestamp,
            preview=np.zeros(n, dtype=bool),
            completion=np.full(n, np.nan),
            floats=[FloatGroup(path, i, v) for path, (i, v) in uniform.floats.items()],
        )
    if isinstance(operation, RawBatchOperation):
        # Not yet checked: the view below skips fields it does not name, the real class does not.
        common_pb2.UpdateRunSnapshots.FromString(raw)
    batch = _Batch()
    batch.ParseFromString(raw)
    snapshots = batch.snapshots
    return _decode_snapshots(snapshots)


def _lone_update_as_batch(operation: ingest_pb2.RunOperation) -> bytes:
    wrapper = common_pb2.UpdateRunSnapshots()
    wrapper.snapshots.append(operation.update)
    raw: bytes = wrapper.SerializeToString()
    return raw


def _decode_snapshots(snapshots: Sequence[Message]) -> DecodedUpdate:
    n = len(snapshots)
    out = DecodedUpdate(
        steps=np.zeros(n),
        has_step=np.zeros(n, dtype=bool),
        timestamps=np.zeros(n, dtype=np.int64),
        has_timestamp=np.zeros(n, dtype=bool),
        bad_timestamp=np.zeros(n, dtype=bool),
        preview=np.zeros(n, dtype=bool),
        completion=np.full(n, np.nan),
    )
    joined: list[bytes] = []
    with_points: list[int] = []
    for i, snap in enumerate(snapshots):
        _decode_header(snap, i, out)
        appended = snap.append
        if appended:
            joined.append(b"".join(appended))
            with_points.append(i)
        for raw in snap.assign:
            entry = _ValueEntry.FromString(raw)
            out.items.append(SnapshotItem(i, "assign", entry.key, entry.value))
        for raw in snap.modify_sets:
            entry = _SetEntry.FromString(raw)
            out.items.append(SnapshotItem(i, "modify", entry.key, entry.value))
    if with_points:
        index = np.asarray(with_points, dtype=np.int64)
        uniform = _uniform_floats(list(snapshots[with_points[0]].append), joined, index)
        if uniform is not None:
            out.floats.extend(uniform)
        else:
            _grouped_floats([snapshots[i] for i in with_points], index, out)
    out.items.sort(key=lambda item: item.snapshot)
    return out


def _uniform_floats(
    first: list[bytes], joined: list[bytes], index: npt.NDArray[np.int64]
) -> list[FloatGroup] | None:
    """The common case in one pass: every snapshot appends the same float attributes in the
    same order, so the snapshots' entries form a table of fixed-width rows. None otherwise."""
    layout, width = [], 0
    for raw in first:
        path = wire.float_entry_key(raw[: -wire.FLOAT_BYTES])
        if path is None:
            return None
        layout.append((path, width + len(raw) - wire.FLOAT_BYTES))
        width += len(raw)
    if any(len(row) != width for row in joined):
        return None
    rows = np.frombuffer(b"".join(joined), dtype=np.uint8).reshape(len(joined), width)
    fixed = np.ones(width, dtype=bool)
    for _, offset in layout:
        fixed[offset : offset + wire.FLOAT_BYTES] = False
    if not (rows[:, fixed] == rows[0, fixed]).all():
        return None
    return [
        FloatGroup(path, index, rows[:, o : o + wire.FLOAT_BYTES].copy().view("<f8").ravel())
        for path, o in layout
    ]


def _grouped_floats(
    snapshots: Sequence[Message], index: npt.NDArray[np.int64], out: DecodedUpdate
) -> None:
    """Any mix of entries: group float entries by their (key + header) prefix."""
    groups: dict[bytes, tuple[list[bytes], list[int]]] = {}
    for i, snap in zip(index.tolist(), snapshots, strict=True):
        for raw in snap.append:
            group = groups.get(raw[: -wire.FLOAT_BYTES])
            if group is None:
                group = groups[raw[: -wire.FLOAT_BYTES]] = ([], [])
            group[0].append(raw)
            group[1].append(i)
    floats: _FloatParts = {}
    for prefix, (entries, indexes) in groups.items():
        _decode_group(prefix, entries, indexes, out, floats)
    for path, parts in floats.items():
        order_index = np.concatenate([p[0] for p in parts])
        values = np.concatenate([p[1] for p in parts])
        if len(parts) > 1:  # the same attribute arrived in two encodings: restore arrival order
            order = np.argsort(order_index, kind="stable")
            order_index, values = order_index[order], values[order]
        out.floats.append(FloatGroup(path, order_index, values))


def _decode_header(snap: Message, i: int, out: DecodedUpdate) -> None:
    if snap.HasField("step"):
        step = snap.step
        if step.micro < wire.MICROS_PER_STEP:
            out.steps[i] = wire.step_value(step.whole, step.micro)
        else:
            out.steps[i] = np.nan
        out.has_step[i] = True
    if snap.HasField("timestamp"):
        ts = snap.timestamp
        if time_problem(ts.seconds, ts.nanos) is None:
            out.timestamps[i] = wire.timestamp_ms(ts.seconds, ts.nanos)
        else:
            out.bad_timestamp[i] = True
        out.has_timestamp[i] = True
    if snap.HasField("preview") and snap.preview.is_preview:
        out.preview[i] = True
        out.completion[i] = snap.preview.completion_ratio


def _decode_group(
    prefix: bytes,
    entries: list[bytes],
    indexes: list[int],
    out: DecodedUpdate,
    floats: _FloatParts,
) -> None:
    path = wire.float_entry_key(prefix)
    if path is not None:
        record = np.dtype([("head", f"V{len(prefix)}"), ("value", "<f8")])
        values = np.frombuffer(b"".join(entries), dtype=record)["value"].astype(np.float64)
        floats.setdefault(path, []).append((np.asarray(indexes, dtype=np.int64), values))
        return
    for raw, i in zip(entries, indexes, strict=True):
        entry = _ValueEntry.FromString(raw)  # valid: the same bytes parsed as a RunOperation
        value = entry.value
        kind = value.WhichOneof("value")
        if kind in ("float64", "int64"):  # integers log as floats: one float series
            number = float(value.float64 if kind == "float64" else value.int64)
            single = (np.array([i], dtype=np.int64), np.array([number]))
            floats.setdefault(entry.key, []).append(single)
        else:
            out.items.append(SnapshotItem(i, "append", entry.key, value))
