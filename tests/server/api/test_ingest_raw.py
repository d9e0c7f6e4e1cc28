"""``/ingest`` hands the store an ``update_batch`` still serialized: a malformed batch is still a
400 that stores nothing, wherever it would be refused, and create_missing_project still counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.protobuf.message import DecodeError
from neptune_api.proto.google_rpc.code_pb2 import Code
from neptune_api.proto.neptune_pb.ingest.v1.common_pb2 import Run, UpdateRunSnapshots
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode
from neptune_api.proto.neptune_pb.ingest.v1.pub.client_pb2 import (
    BulkRequestStatus,
    RequestIdList,
    SubmitResponse,
)
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation

PROJECT = "team/raw"
URL = "/api/client/v1/ingest"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
_BATCH_TAG = b"\x42"  # RunOperation.update_batch: field 8, length-delimited
MALFORMED = [
    b"\x0a\x03\xff\xff\xff",  # a snapshot whose bytes are a truncated varint
    b"\x0a\x06\x22\x04\x0a\x02\xff\xfe",  # an assign whose key is not UTF-8
    b"\x0a\x04\x4a\x02\xff\xfe",  # request_id (a field the store's decode skips): not UTF-8
]


def _with_batch(project: str, run_id: str, batch: bytes, **fields: Any) -> bytes:
    """A RunOperation whose update_batch holds exactly ``batch`` (possibly malformed)."""
    head = RunOperation(project=project, run_id=run_id, **fields).SerializeToString()
    assert len(batch) < 0x80  # one-byte length varint
    return head + _BATCH_TAG + bytes([len(batch)]) + batch


def _metrics(project: str, run_id: str, **fields: Any) -> bytes:
    batch = UpdateRunSnapshots()
    snap = batch.snapshots.add()
    snap.step.whole = 1
    snap.append["loss"].float64 = 0.5
    op = RunOperation(project=project, run_id=run_id, update_batch=batch, **fields)
    return op.SerializeToString()


def _post(client: TestClient, auth: dict[str, str], body: bytes) -> Any:
    return client.post(URL, content=body, headers=auth | PROTOBUF)


def _codes(client: TestClient, auth: dict[str, str], answer: Any) -> set[tuple[int, int]]:
    assert answer.status_code == 200, answer.text
    ids = RequestIdList()
    ids.ids.add(value=SubmitResponse.FromString(answer.content).request_id)
    check = client.post(
        f"{URL}/check?projectIdentifier={PROJECT}",
        content=ids.SerializeToString(),
        headers=auth | PROTOBUF,
    )
    (status,) = BulkRequestStatus.FromString(check.content).statuses
    return {(c.code, c.detail) for c in status.code_by_count}


@pytest.mark.parametrize("batch", MALFORMED)
def test_a_malformed_batch_is_a_400_that_stores_nothing(
    client: TestClient, team_auth: dict[str, str], stored: Any, batch: bytes
) -> None:
    with pytest.raises(DecodeError):  # the oracle agrees the body is malformed
        RunOperation.FromString(_with_batch(PROJECT, "r", batch))
    create = RunOperation(project=PROJECT, run_id="r", create=Run(family="r"))
    assert _codes(client, team_auth, _post(client, team_auth, create.SerializeToString())) == set()
    for body in (
        _with_batch(PROJECT, "r", batch),  # an existing run: refused while decoding
        _with_batch(PROJECT, "ghost", batch),  # a missing run: refused before decoding
        _with_batch("team/new-project", "r", batch),  # a project that would be created
        _with_batch("no-slash", "r", batch),  # an invalid project name, found by the route
    ):
        answer = _post(client, team_auth, body)
        assert answer.status_code == 400, answer.text
        assert "not a serialized" in answer.json()["detail"]
    assert stored.names(PROJECT, "r") == (set(), set())
    assert stored.run("team/new-project", "r") is None
    answer = _post(client, team_auth, _metrics(PROJECT, "r"))  # the server keeps serving
    assert _codes(client, team_auth, answer) == set()
    assert stored.floats(PROJECT, "r", "loss") == [(1.0, 0.5)]


def test_create_missing_project_false_on_a_batch_creates_no_project(
    client: TestClient,
    make_token: Callable[..., str],
    bearer: Callable[[str], dict[str, str]],
    stored: Any,
) -> None:
    auth = bearer(make_token("team"))  # may create projects
    answer = _post(client, auth, _metrics(PROJECT, "r", create_missing_project=False))
    assert _codes(client, auth, answer) == {(Code.NOT_FOUND, IngestCode.PROJECT_NOT_FOUND)}
    assert stored.run(PROJECT, "r") is None
    # Unset, or true: the grant decides; the project is created and the batch reaches the run
    # check (no run yet).
    for fields in ({}, {"create_missing_project": True}):
        answer = _post(client, auth, _metrics(PROJECT, "r", **fields))
        assert _codes(client, auth, answer) == {(Code.NOT_FOUND, IngestCode.RUN_NOT_FOUND)}
    create = RunOperation(project=PROJECT, run_id="r", create=Run(family="r"))
    assert _codes(client, auth, _post(client, auth, create.SerializeToString())) == set()
    answer = _post(client, auth, _metrics(PROJECT, "r", create_missing_project=True))
    assert _codes(client, auth, answer) == set()
    assert stored.floats(PROJECT, "r", "loss") == [(1.0, 0.5)]
