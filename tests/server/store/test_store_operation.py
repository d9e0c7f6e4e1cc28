"""parse_operation: an update_batch stays serialized until the store decodes it, with the same
result as the parsed message and the same rejection of malformed bytes (through LocalTransport)."""

from __future__ import annotations

from pathlib import Path

import pytest
from despina.store import Store, open_store
from despina.store._model import FLOAT_SERIES
from despina.store._operation import RawBatchOperation, check_batch, parse_operation
from despina.store.transport import LocalTransport
from google.protobuf.message import DecodeError
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode as C
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2
from neptune_scale.transport import Failed, Processed, Submitted
from support.opbuild import PROJECT, Snap, codes, create, float_points, metrics, update

_BATCH_TAG = b"\x42"  # RunOperation.update_batch: field 8, length-delimited


def _with_batch(run_id: str, batch: bytes) -> bytes:
    """A RunOperation whose update_batch holds exactly ``batch`` (possibly malformed)."""
    head = ingest_pb2.RunOperation(project=PROJECT, run_id=run_id).SerializeToString()
    assert len(batch) < 0x80  # one-byte length varint
    return head + _BATCH_TAG + bytes([len(batch)]) + batch


def _mixed(run_id: str) -> ingest_pb2.RunOperation:
    """Takes the general decode path: assigns, tags, strings, a conflict and a bad step."""
    return update(
        run_id,
        Snap(step=1, ts=1.0, assign={"cfg/lr": 0.1, "name": "x"}, append={"loss": 1.0}),
        Snap(step=2, ts=2.0, append={"loss": 0.5, "log": "text"}, add={"tags": ["a", "b"]}),
        Snap(step=3, ts=3.0, append={"name": 2.0, "loss": 0.25}, remove={"tags": ["a"]}),
        Snap(step=None, ts=4.0, append={"loss": 9.0}),
    )


def test_update_batch_stays_serialized_and_others_are_parsed() -> None:
    batch_op = metrics("a", {"loss": [1.0, 0.5]})
    parsed = parse_operation(batch_op.SerializeToString())
    assert parsed == RawBatchOperation(PROJECT, "a", batch_op.update_batch.SerializeToString())
    created = parse_operation(create("a").SerializeToString())
    assert created == create("a")
    lone = ingest_pb2.RunOperation(project=PROJECT, run_id="a")
    lone.update.step.whole = 1
    assert parse_operation(lone.SerializeToString()) == lone
    with pytest.raises(DecodeError):
        parse_operation(b"\xff\xff\xff")


@pytest.mark.parametrize(
    "build", [_mixed, lambda r: metrics(r, {"a": [1.0, 2.0], "b": [3.0, 4.0]})]
)
def test_raw_batch_stores_what_the_parsed_message_stores(store: Store, build: object) -> None:
    results = []
    for run_id, as_raw in (("message", False), ("raw", True)):
        store.apply([create(run_id)])
        op = build(run_id)  # type: ignore[operator]
        applied = parse_operation(op.SerializeToString()) if as_raw else op
        (issues,) = store.apply([applied])
        results.append((codes(issues), _snapshot(store, run_id)))
    assert results[0] == results[1]
    assert results[0][1]["floats"]["loss" if build is _mixed else "a"]  # points were stored


def _snapshot(store: Store, run_id: str) -> dict[str, object]:
    with store.engine.read() as tx:
        project = tx.project(PROJECT)
        assert project is not None
        run = tx.run(project.pk, run_id)
        assert run is not None
        paths = {"cfg/lr", "name", "tags", "loss", "log", "a", "b"}
        scalars = tx.attributes(run.pk, paths)
        series = {p: (s.type, s.count) for p, s in tx.series(run.pk, paths).items()}
    floats = {
        p: float_points(store, run_id, p).tolist()
        for p, (kind, _) in series.items()
        if kind == FLOAT_SERIES
    }
    return {"scalars": scalars, "series": series, "floats": floats}


@pytest.mark.parametrize(
    "batch",
    [
        b"\x0a\x03\xff\xff\xff",  # a snapshot whose bytes are a truncated varint
        b"\x0a\x06\x22\x04\x0a\x02\xff\xfe",  # an assign whose key is not UTF-8
        b"\x0a\x04\x4a\x02\xff\xfe",  # request_id (a field the decode view skips): not UTF-8
    ],
)
def test_malformed_batch_fails_without_retry_and_stores_nothing(
    tmp_path: Path, batch: bytes
) -> None:
    with pytest.raises(DecodeError):
        ingest_pb2.RunOperation.FromString(_with_batch("a", batch))  # the oracle agrees
    transport = LocalTransport(tmp_path)
    assert isinstance(transport.submit(PROJECT, "a", create("a").SerializeToString()), Submitted)
    result = transport.submit(PROJECT, "a", _with_batch("a", batch))
    assert isinstance(result, Failed) and not result.retryable
    good = transport.submit(PROJECT, "a", metrics("a", {"loss": [1.0]}).SerializeToString())
    assert isinstance(good, Submitted)
    assert transport.check(PROJECT, [good.request_id]) == [Processed(())]
    transport.close()
    with open_store(tmp_path, create=False) as store:
        assert float_points(store, "a", "loss").tolist() == [[0, 1.0]]


def test_raw_batch_for_a_missing_run_reports_run_not_found(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        raw = parse_operation(metrics("ghost", {"loss": [1.0]}).SerializeToString())
        (issues,) = store.apply([raw])
    assert codes(issues) == {C.RUN_NOT_FOUND: 1}


def test_create_missing_project_travels_with_a_raw_batch() -> None:
    op = metrics("a", {"loss": [1.0]})
    unset = parse_operation(op.SerializeToString())
    assert isinstance(unset, RawBatchOperation) and unset.create_missing_project is None
    for flag in (False, True):
        op.create_missing_project = flag
        parsed = parse_operation(op.SerializeToString())
        assert isinstance(parsed, RawBatchOperation) and parsed.create_missing_project is flag


@pytest.mark.parametrize("project", [PROJECT, "ws/unknown", "no-slash"])
def test_malformed_raw_batch_raises_even_when_refused_before_decoding(
    store: Store, project: str
) -> None:
    assert store.apply([create("a")]) == [()]  # PROJECT exists; "ghost" is no run of it
    store.create_projects = False  # "ws/unknown" is refused as PROJECT_NOT_FOUND
    raw = RawBatchOperation(project, "ghost", b"\x0a\x03\xff\xff\xff")
    with pytest.raises(DecodeError):
        check_batch(raw)
    with pytest.raises(DecodeError):
        store.apply([raw])
    batch = metrics("ghost", {"x": [1.0]}).update_batch.SerializeToString()
    (issues,) = store.apply([RawBatchOperation(project, "ghost", batch)])
    expected = {
        PROJECT: C.RUN_NOT_FOUND,
        "ws/unknown": C.PROJECT_NOT_FOUND,
        "no-slash": C.PROJECT_INVALID_NAME,
    }
    assert codes(issues) == {expected[project]: 1}  # refused with its code, not an exception
