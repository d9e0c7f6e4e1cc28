"""The hand-written encoder against the neptune-api generated protobuf classes."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import pytest
from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2
from neptune_scale import wire as enc
from neptune_scale._snapshots import SnapshotBuilder
from neptune_scale.types import Histogram

TS = (1795347911, 673945000)


def unframe(record: bytes) -> common_pb2.UpdateRunSnapshot:
    """A framed record is exactly one UpdateRunSnapshots.snapshots entry."""
    batch = common_pb2.UpdateRunSnapshots()
    batch.ParseFromString(record)
    assert len(batch.snapshots) == 1
    return batch.snapshots[0]


def fast(b: SnapshotBuilder, data: dict, head: bytes) -> bytes | None:  # type: ignore[type-arg]
    """The hot-path encoder for this key set, its record completed with the tag byte."""
    rest = b.metric_encoder(tuple(data))(data, head)
    return None if rest is None else bytes([enc.TAG_SNAPSHOTS]) + rest


def builder(reports: list[str] | None = None) -> SnapshotBuilder:
    return SnapshotBuilder((reports if reports is not None else []).append)


def expected_snapshot(step: float | None) -> common_pb2.UpdateRunSnapshot:
    snap = common_pb2.UpdateRunSnapshot()
    if step is not None:
        whole, micro = enc.decompose_step(step)
        snap.step.whole = whole
        snap.step.micro = micro
        snap.step.SetInParent()
    snap.timestamp.seconds, snap.timestamp.nanos = TS
    return snap


@pytest.mark.parametrize("step", [0, 1, 127, 128, 16383, 16384, 2**21, 10**11, 7.654321, 0.5])
def test_metric_record_is_byte_identical_to_protobuf(step: float) -> None:
    head = enc.fast_step_field(step) + enc.timestamp_field(*TS)
    record = fast(builder(), {"train/loss": 0.25}, head)
    assert record is not None
    expected = expected_snapshot(step)
    expected.append["train/loss"].float64 = 0.25
    assert record == enc.frame_snapshot(expected.SerializeToString(deterministic=True))


def test_step_zero_is_present_but_empty() -> None:
    snap = unframe(fast(builder(), {"m": 1.0}, enc.fast_step_field(0)) or b"")
    assert snap.HasField("step")
    assert snap.step.whole == 0 and snap.step.micro == 0


def test_steps_are_six_decimal_fixed_point() -> None:
    assert enc.decompose_step(7.654321) == (7, 654321)
    assert enc.decompose_step(1e-7) == (0, 0)
    assert enc.decompose_step(12) == (12, 0)
    assert enc.fast_step_field(3) == enc.step_field(3) == enc.step_field(3.0)


@pytest.mark.parametrize("n", [50, 100])  # generated encoder, generic encoder
def test_many_metrics_parse_back_with_values_kept(n: int) -> None:
    data = {f"m/{i}": i * 1.5 for i in range(n)} | {"nan": math.nan, "inf": math.inf}
    head = enc.fast_step_field(5) + enc.timestamp_field(*TS)
    snap = unframe(fast(builder(), data, head) or b"")
    assert {k: v.float64 for k, v in snap.append.items() if k.startswith("m/")} == {
        k: v for k, v in data.items() if k.startswith("m/")
    }
    assert math.isnan(snap.append["nan"].float64)
    assert snap.append["inf"].float64 == math.inf


def test_invalid_metric_values_are_dropped_and_reported() -> None:
    reports: list[str] = []
    b = builder(reports)
    head = enc.fast_step_field(1)
    assert fast(b, {"ok": 1.0, "bad": "x"}, head) is None  # falls back to the slow path
    (record,) = b.metrics({"ok": 1.0, "bad": "x", "num": "2.5", 7: 1.0}, head)
    snap = unframe(record)
    assert dict((k, v.float64) for k, v in snap.append.items()) == {"ok": 1.0, "num": 2.5}
    assert any("'bad'" in r and "number" in r for r in reports)
    assert any("must be str" in r for r in reports)


def test_configs_match_protobuf_values() -> None:
    when = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
    data = {"f": 0.5, "b": True, "i": -3, "s": "text", "d": when, "set": ["a", "b"], "big": 2**40}
    (record,) = builder().configs(data, enc.timestamp_field(*TS), cast_unsupported=False)
    expected = expected_snapshot(None)
    expected.assign["f"].float64 = 0.5
    expected.assign["b"].bool = True
    expected.assign["i"].int64 = -3
    expected.assign["s"].string = "text"
    expected.assign["d"].timestamp.FromDatetime(when)
    expected.assign["set"].string_set.values.extend(["a", "b"])
    expected.assign["big"].int64 = 2**40
    assert unframe(record) == expected


def test_config_casting_and_dropping() -> None:
    reports: list[str] = []
    head = enc.timestamp_field(*TS)
    (record,) = builder(reports).configs(
        {"n": None, "o": object, "x": 1}, head, cast_unsupported=False
    )
    assert set(unframe(record).assign) == {"x"}
    assert len(reports) == 2 and "cast_unsupported" in reports[0]
    (record,) = builder().configs({"n": None}, head, cast_unsupported=True)
    assert unframe(record).assign["n"].string == ""
    with pytest.raises(TypeError, match="must be str"):
        builder().configs({"l": ["a", 1]}, head, cast_unsupported=False)


def test_tags_use_modify_sets() -> None:
    (record,) = builder().tags("sys/tags", ["a", "b"], 1, enc.timestamp_field(*TS))
    snap = unframe(record)
    assert dict(snap.modify_sets["sys/tags"].string.values) == {"a": 1, "b": 1}


def test_histograms_counts_and_densities() -> None:
    head = enc.fast_step_field(3) + enc.timestamp_field(*TS)
    data = {
        "h/c": Histogram(bin_edges=[0.0, 1.0, 2.0], counts=[4, 5]),
        "h/d": Histogram(bin_edges=[0.0, 1.0], densities=[0.25]),
    }
    snap = unframe(builder().histograms(data, head)[0])
    c = snap.append["h/c"].histogram
    assert list(c.bin_edges) == [0.0, 1.0, 2.0] and list(c.counts.values) == [4, 5]
    d = snap.append["h/d"].histogram
    assert list(d.densities.values) == [0.25]


@pytest.mark.parametrize(
    "hist, problem",
    [
        (Histogram(bin_edges=[0.0, 1.0], counts=[1], densities=[1.0]), "exactly one"),
        (Histogram(bin_edges=[0.0, 1.0, 2.0], counts=[1]), "len(bin_edges) - 1"),
        (Histogram(bin_edges=list(range(515)), counts=[1] * 514), "513"),
        (Histogram(bin_edges=[0.0, math.nan], counts=[1]), "NaN"),
    ],
)
def test_invalid_histograms_are_dropped(hist: Histogram, problem: str) -> None:
    reports: list[str] = []
    assert builder(reports).histograms({"h": hist}, b"") == []
    assert problem in reports[0]


def test_create_run_and_envelopes_match_protobuf() -> None:
    create = enc.encode_create_run(
        family="run-b",
        creation_time=TS,
        experiment_name="exp",
        fork=("ws/p", "run-a", 500),
        inherit_configs=True,
    )
    op = ingest_pb2.RunOperation()
    op.ParseFromString(enc.run_operation_create(enc.run_operation_prefix("ws/p", "run-b"), create))
    expected = ingest_pb2.RunOperation(project="ws/p", run_id="run-b")
    expected.create.family = "run-b"
    expected.create.experiment_id = "exp"
    expected.create.inherit_configs = True
    expected.create.creation_time.seconds, expected.create.creation_time.nanos = TS
    expected.create.fork_point.parent_project = "ws/p"
    expected.create.fork_point.parent_run_id = "run-a"
    expected.create.fork_point.step.whole = 500
    assert op == expected
    assert op.SerializeToString(deterministic=True) == expected.SerializeToString(
        deterministic=True
    )


def test_batch_envelope_concatenates_framed_snapshots() -> None:
    b = builder()
    records = [fast(b, {"m": float(i)}, enc.fast_step_field(i)) or b"" for i in range(3)]
    body = b"".join(records)
    raw = enc.run_operation_batch_header(enc.run_operation_prefix("ws/p", "r"), len(body)) + body
    op = ingest_pb2.RunOperation()
    op.ParseFromString(raw)
    assert op.WhichOneof("operation") == "update_batch"
    assert [s.append["m"].float64 for s in op.update_batch.snapshots] == [0.0, 1.0, 2.0]


def test_big_calls_are_split_under_the_snapshot_limit() -> None:
    big = "x" * 600_000
    data = {f"s/{i}": big for i in range(8)}
    records = builder().string_series(data, enc.fast_step_field(1))
    assert len(records) >= 3
    seen = {}
    for record in records:
        assert len(record) <= 2 * 1024 * 1024 + 8
        snap = unframe(record)
        assert snap.step.whole == 1
        seen.update({k: v.string for k, v in snap.append.items()})
    assert seen == data


def test_file_ref_value() -> None:
    entry = enc.map_entry(enc.TAG_ASSIGN, "f", enc.value_file_ref("a/b.txt", 12, "text/plain"))
    snap = unframe(enc.frame_snapshot(entry))
    ref = snap.assign["f"].file_ref
    assert (ref.path, ref.size_bytes, ref.mime_type) == ("a/b.txt", 12, "text/plain")


def test_inlined_small_step_fields_match_the_encoder(make_run: Any, memory: Any) -> None:
    run = make_run(run_id="steps")
    steps = [1, 2, 127, 128, 129, 255, 16383, 16384, 16385, 99_999, 2**21 - 1, 2**21, 2**21 + 5]
    for step in steps:
        run.log_metrics({"m": float(step)}, step=step)
    run.close()
    assert memory.metric_points("steps", "m") == [(float(s), float(s)) for s in steps]
    raw = b"".join(memory.raw)
    for step in steps:
        assert enc.step_field(step) in raw
