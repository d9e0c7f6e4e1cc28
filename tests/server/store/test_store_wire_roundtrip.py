"""The hand-written wire layout (``neptune_scale.wire``) pinned against neptune-api's protobuf
classes, both ways: what we encode parses with protobuf to the same message, and what protobuf
serializes reads back through ours (``wire``'s decoders and the store's vectorized and general
decoders), on the edge cases: steps of every varint width, decimal and the largest steps,
timestamps with microseconds and before 1970, long and non-ASCII keys and strings."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from despina.store._decode import decode_update
from despina.store._fastdecode import decode_uniform
from despina.store._operation import RawBatchOperation
from google.protobuf.timestamp_pb2 import Timestamp
from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2
from neptune_scale import wire
from neptune_scale._snapshots import SnapshotBuilder

STEPS = [0, 1, 127, 128, 16383, 16384, 2**21 - 1, 2**21, 2**28, 10**11, 999_999_999_999,
         0.5, 1e-6, 1.000001, 123.456789, 2**21 + 0.25, 999_999_999_999.999999]  # fmt: skip
UTC = timezone.utc
TIMES = [
    datetime(2026, 12, 3, 13, 0, 0, tzinfo=UTC),
    datetime(2026, 12, 3, 13, 0, 0, 123456, tzinfo=UTC),  # microseconds
    datetime(2026, 12, 3, 13, 0, 0, 1, tzinfo=UTC),
    datetime(1960, 5, 4, 3, 2, 1, 999999, tzinfo=UTC),  # negative seconds
    datetime(1970, 1, 1, tzinfo=UTC),  # zero: an empty Timestamp
    datetime(2261, 12, 31, 23, 59, 59, tzinfo=UTC),
]
KEYS = ["m", "train/loss", "λ/損失/🚀", "k" * 127, "deep/" * 200 + "end"]  # 1- and 2-byte lengths
STRINGS = ["", "plain", "unicode: żółw 損失 🚀", "x" * 200_000]


def protobuf_step(step: float) -> common_pb2.Step:
    whole, micro = wire.decompose_step(step)
    return common_pb2.Step(whole=whole, micro=micro)


def protobuf_snapshot(step: float, when: datetime, floats: dict[str, float]) -> bytes:
    snap = common_pb2.UpdateRunSnapshot(step=protobuf_step(step))
    seconds, nanos = wire.datetime_parts(when)
    snap.timestamp.CopyFrom(Timestamp(seconds=seconds, nanos=nanos))
    for key, value in floats.items():
        snap.append[key].float64 = value
    raw: bytes = snap.SerializeToString(deterministic=True)
    return raw


def ours_snapshot(step: float, when: datetime, floats: dict[str, float]) -> bytes:
    head = wire.step_field(step) + wire.timestamp_field(*wire.datetime_parts(when))
    (record,) = SnapshotBuilder(pytest.fail).metrics(floats, head)
    return record


@pytest.mark.parametrize("step", STEPS)
def test_steps_encode_as_protobuf_does_and_read_back(step: float) -> None:
    expected = protobuf_step(step).SerializeToString()
    assert wire.step_message(step) == expected
    assert wire.fast_step_field(step) == wire.step_field(step) == wire.field(0x0A, expected)
    parsed = common_pb2.Step.FromString(wire.step_message(step))
    assert wire.step_value(parsed.whole, parsed.micro) == pytest.approx(step, abs=1e-6)


def test_steps_beyond_what_a_client_sends_decode_without_wrapping() -> None:
    """Step.whole is a uint64: protobuf may send 2**64 - 1, read as a float, not as -1."""
    for whole in (2**63, 2**64 - 1):
        raw = common_pb2.Step(whole=whole, micro=999_999).SerializeToString()
        value, end = wire.decode_varint(raw, 1)
        assert (value, end) == (whole, 1 + len(wire.varint(whole)))
        assert wire.step_value(whole, 999_999) == pytest.approx(float(whole))
    with pytest.raises(ValueError, match="negative"):
        wire.step_message(-1)
    with pytest.raises(ValueError, match="truncated"):
        wire.decode_varint(b"\x80\x80", 0)


@pytest.mark.parametrize("when", TIMES)
def test_timestamps_encode_as_protobuf_does_and_read_back(when: datetime) -> None:
    seconds, nanos = wire.datetime_parts(when)
    assert nanos == when.microsecond * 1000
    expected = Timestamp(seconds=seconds, nanos=nanos).SerializeToString()
    assert wire.timestamp_message(seconds, nanos) == expected
    parsed = Timestamp.FromString(wire.timestamp_message(seconds, nanos))
    assert (parsed.seconds, parsed.nanos) == (seconds, nanos)
    epoch_ms = math.floor(when.timestamp() * 1000 + 1e-6)
    assert wire.timestamp_ms(parsed.seconds, parsed.nanos) == epoch_ms


@pytest.mark.parametrize("key", KEYS)
def test_float_entries_are_what_protobuf_writes(key: str) -> None:
    snap = common_pb2.UpdateRunSnapshot()
    snap.append[key].float64 = -1.5
    raw = snap.SerializeToString()
    prefix = wire.float_entry_prefix(key)
    assert raw == prefix + np.float64(-1.5).tobytes()
    _, start = wire.decode_varint(raw, 1)  # after the append tag and the entry's length
    assert wire.float_entry_key(raw[start : -wire.FLOAT_BYTES]) == key


@pytest.mark.parametrize("value", STRINGS)
def test_string_values_are_what_protobuf_writes(value: str) -> None:
    assert wire.value_string(value) == common_pb2.Value(string=value).SerializeToString()
    assert common_pb2.Value.FromString(wire.value_string(value)).string == value


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("when", TIMES[:4])
def test_snapshots_round_trip_both_ways(step: float, when: datetime) -> None:
    floats = {key: i * 0.25 - 1e300 for i, key in enumerate(KEYS)}
    ours = ours_snapshot(step, when, floats)
    theirs = protobuf_snapshot(step, when, floats)
    batch = common_pb2.UpdateRunSnapshots.FromString(ours)
    assert len(batch.snapshots) == 1  # the frame is one UpdateRunSnapshots.snapshots entry
    # The same message (protobuf writes map entries in its own order, so bytes may differ).
    assert batch.snapshots[0] == common_pb2.UpdateRunSnapshot.FromString(theirs)
    # protobuf's bytes through the store's decoders (the vectorized one, then the general one)
    wrapped = common_pb2.UpdateRunSnapshots()
    wrapped.snapshots.append(common_pb2.UpdateRunSnapshot.FromString(theirs))
    wrapped.snapshots.append(common_pb2.UpdateRunSnapshot.FromString(theirs))
    raw = wrapped.SerializeToString()
    uniform = decode_uniform(raw)
    assert uniform is not None
    decoded = decode_update(RawBatchOperation("ws/p", "r", raw))
    expected_ms = wire.timestamp_ms(*wire.datetime_parts(when))
    for steps, times, groups in (
        (uniform.steps, uniform.timestamps, {k: v for k, (_, v) in uniform.floats.items()}),
        (decoded.steps, decoded.timestamps, {g.path: g.values for g in decoded.floats}),
    ):
        assert steps.tolist() == pytest.approx([step, step], abs=1e-6)
        assert times.tolist() == [expected_ms, expected_ms]
        assert {k: v.tolist() for k, v in groups.items()} == {k: [v, v] for k, v in floats.items()}


def test_a_mixed_snapshot_reads_back_through_the_general_decoder() -> None:
    """Strings and floats together leave the vectorized path; values and keys survive."""
    when = datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC) + timedelta(microseconds=7)
    head = wire.step_field(2.5) + wire.timestamp_field(*wire.datetime_parts(when))
    builder = SnapshotBuilder(pytest.fail)
    (record,) = builder.string_series({"log/λ": STRINGS[2], "log/long": STRINGS[3]}, head)
    (floats,) = builder.metrics({"λ/損失/🚀": 0.5}, head)
    raw = record + floats
    assert decode_uniform(raw) is None
    decoded = decode_update(RawBatchOperation("ws/p", "r", raw))
    assert decoded.steps.tolist() == [2.5, 2.5]
    strings = {item.path: item.value.string for item in decoded.items}
    assert strings == {"log/λ": STRINGS[2], "log/long": STRINGS[3]}
    assert [(g.path, g.values.tolist()) for g in decoded.floats] == [("λ/損失/🚀", [0.5])]
    seconds, nanos = wire.datetime_parts(when)
    assert seconds < 0
    parsed = common_pb2.UpdateRunSnapshots.FromString(raw).snapshots[0].timestamp
    assert (parsed.seconds, parsed.nanos) == (seconds, nanos)
