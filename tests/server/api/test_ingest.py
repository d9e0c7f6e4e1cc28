"""Ingestion (W1, W2, checkDetails) against the real store: codes, durability, bad bodies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from despina.api import ServerContext
from despina.query import Reader
from fastapi.testclient import TestClient
from google.protobuf.timestamp_pb2 import Timestamp
from neptune_api.proto.google_rpc.code_pb2 import Code
from neptune_api.proto.neptune_pb.ingest.v1.common_pb2 import (
    ForkPoint,
    Run,
    Step,
    UpdateRunSnapshot,
    UpdateRunSnapshots,
    Value,
)
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode
from neptune_api.proto.neptune_pb.ingest.v1.pub.client_pb2 import (
    BulkCheckDetail,
    BulkIngestResultDetail,
    BulkRequestStatus,
    RequestIdList,
    SubmitResponse,
)
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation

PROJECT = "team/proj"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
MIB = 1024 * 1024


def create(run_id: str, *, experiment: str = "", fork: tuple[str, int] | None = None) -> bytes:
    run = Run(family=run_id, creation_time=Timestamp(seconds=1_790_000_000))
    if experiment:
        run.experiment_id = experiment
    if fork:
        run.fork_point.CopyFrom(
            ForkPoint(parent_project=PROJECT, parent_run_id=fork[0], step=Step(whole=fork[1]))
        )
    return RunOperation(project=PROJECT, run_id=run_id, create=run).SerializeToString()


def metrics(run_id: str, points: dict[str, list[tuple[int, float]]]) -> bytes:
    snapshots = []
    by_step: dict[int, dict[str, float]] = {}
    for path, series in points.items():
        for step, value in series:
            by_step.setdefault(step, {})[path] = value
    for step, values in by_step.items():
        snap = UpdateRunSnapshot(step=Step(whole=step), timestamp=Timestamp(seconds=1_790_000_001))
        for path, value in values.items():
            snap.append[path].float64 = value
        snapshots.append(snap)
    batch = UpdateRunSnapshots(snapshots=snapshots)
    return RunOperation(project=PROJECT, run_id=run_id, update_batch=batch).SerializeToString()


def configs(run_id: str, values: dict[str, Value]) -> bytes:
    snap = UpdateRunSnapshot(timestamp=Timestamp(seconds=1_790_000_002))
    for path, value in values.items():
        snap.assign[path].CopyFrom(value)
    return RunOperation(project=PROJECT, run_id=run_id, update=snap).SerializeToString()


Submit = Callable[..., str]


@pytest.fixture
def submit(client: TestClient, team_auth: dict[str, str]) -> Submit:
    def post(body: bytes) -> str:
        answer = client.post("/api/client/v1/ingest", content=body, headers=team_auth | PROTOBUF)
        assert answer.status_code == 200, answer.text
        response = SubmitResponse.FromString(answer.content)
        assert response.request_ids == [response.request_id]
        return response.request_id

    return post


def statuses(client: TestClient, auth: dict[str, str], ids: list[str]) -> BulkRequestStatus:
    body = RequestIdList()
    for request_id in ids:
        body.ids.add(value=request_id)
    answer = client.post(
        f"/api/client/v1/ingest/check?projectIdentifier={PROJECT}",
        content=body.SerializeToString(),
        headers=auth | PROTOBUF,
    )
    assert answer.status_code == 200, answer.text
    return BulkRequestStatus.FromString(answer.content)


def codes(status: object) -> set[tuple[int, int]]:
    return {(c.code, c.detail) for c in status.code_by_count}  # type: ignore[attr-defined]


def test_run_lands_durably_and_every_status_is_final(
    client: TestClient, team_auth: dict[str, str], submit: Submit, stored: Any
) -> None:
    ids = [
        submit(create("run-a", experiment="exp")),
        submit(metrics("run-a", {"train/loss": [(s, 1.0 / (s + 1)) for s in range(100)]})),
        submit(configs("run-a", {"params/lr": Value(float64=0.01)})),
    ]
    answer = statuses(client, team_auth, [*ids, "never-issued"])
    assert len(answer.statuses) == 4
    for status in answer.statuses:
        assert all(c.code == Code.OK for c in status.code_by_count)
        assert not any(c.code == Code.UNAVAILABLE for c in status.code_by_count)
    assert stored.floats(PROJECT, "run-a", "train/loss") == [(s, 1.0 / (s + 1)) for s in range(100)]
    assert stored.attributes(PROJECT, "run-a")["params/lr"] == 0.01
    assert stored.run(PROJECT, "run-a").experiment == "exp"


ERROR_CASES = [
    ("step not increasing", IngestCode.SERIES_STEP_NON_INCREASING, "train/loss"),
    ("step before the fork point", IngestCode.SERIES_STEP_NOT_AFTER_FORK_POINT, "train/loss"),
    ("type conflict", IngestCode.FIELD_TYPE_CONFLICTING, "params/lr"),
]


@pytest.fixture
def broken_requests(submit: Submit) -> Iterator[dict[str, str]]:
    submit(create("parent"))
    submit(metrics("parent", {"train/loss": [(s, float(s)) for s in range(10)]}))
    submit(configs("parent", {"params/lr": Value(float64=0.1)}))
    submit(create("child", fork=("parent", 5)))
    yield {
        "step not increasing": submit(metrics("parent", {"train/loss": [(3, 9.0)]})),
        "step before the fork point": submit(metrics("child", {"train/loss": [(4, 1.0)]})),
        "type conflict": submit(configs("parent", {"params/lr": Value(string="fast")})),
    }


@pytest.mark.parametrize(("case", "code", "path"), ERROR_CASES)
def test_rule_violations_come_back_with_their_ingest_code(
    client: TestClient,
    team_auth: dict[str, str],
    broken_requests: dict[str, str],
    case: str,
    code: int,
    path: str,
) -> None:
    request_id = broken_requests[case]
    (status,) = statuses(client, team_auth, [request_id]).statuses
    found = codes(status)
    assert any(detail == code for _, detail in found), found
    assert all(grpc not in (Code.OK, Code.UNAVAILABLE) for grpc, _ in found)
    query = BulkCheckDetail(project=PROJECT)
    query.ids.add(value=request_id)
    answer = client.post(
        f"/api/client/v1/ingest/checkDetails?projectIdentifier={PROJECT}",
        content=query.SerializeToString(),
        headers=team_auth | PROTOBUF,
    )
    assert answer.status_code == 200
    details = BulkIngestResultDetail.FromString(answer.content).details
    assert [(d.request_id.value, d.ingest_code, d.path) for d in details] == [
        (request_id, code, path)
    ]
    assert details[0].error_detail  # a sentence naming the field


def test_check_details_pages_with_a_cursor(
    client: TestClient, team_auth: dict[str, str], submit: Submit
) -> None:
    submit(create("run-p"))
    submit(metrics("run-p", {f"m/{i}": [(5, 1.0)] for i in range(3)}))
    bad = submit(metrics("run-p", {f"m/{i}": [(1, 1.0)] for i in range(3)}))
    seen: list[str] = []
    cursor = None
    while True:
        query = BulkCheckDetail(project=PROJECT, limit=2)
        query.ids.add(value=bad)
        if cursor:
            query.next_cursor = cursor
        answer = client.post(
            "/api/client/v1/ingest/checkDetails",
            content=query.SerializeToString(),
            headers=team_auth | PROTOBUF,
        )
        page = BulkIngestResultDetail.FromString(answer.content)
        assert len(page.details) <= 2
        seen += [d.path for d in page.details]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert sorted(seen) == ["m/0", "m/1", "m/2"]


def test_malformed_and_oversized_bodies_get_4xx_and_the_server_keeps_serving(
    client: TestClient, team_auth: dict[str, str], submit: Submit
) -> None:
    url = "/api/client/v1/ingest"
    headers = team_auth | PROTOBUF
    assert client.post(url, content=b"\xff\xfe garbage", headers=headers).status_code == 400
    assert client.post(url, content=b"", headers=headers).status_code == 400
    too_big = b"\x00" * (17 * MIB + 1)
    answer = client.post(url, content=too_big, headers=headers)
    assert answer.status_code == 413
    assert "limit" in answer.json()["detail"]

    def chunked() -> Iterator[bytes]:  # no Content-Length: the cap applies while reading
        for _ in range(18):
            yield b"\x00" * MIB

    assert client.post(url, content=chunked(), headers=headers).status_code == 413
    too_many = RequestIdList()
    for i in range(1001):
        too_many.ids.add(value=str(i))
    answer = client.post(
        f"{url}/check?projectIdentifier={PROJECT}",
        content=too_many.SerializeToString(),
        headers=headers,
    )
    assert answer.status_code == 400 and "1000" in answer.json()["detail"]
    submit(create("still-serving"))


def test_a_token_for_one_workspace_cannot_write_another(
    client: TestClient,
    make_token: Callable[..., str],
    bearer: Callable[[str], dict[str, str]],
) -> None:
    other = bearer(make_token("other"))
    answer = client.post("/api/client/v1/ingest", content=create("x"), headers=other | PROTOBUF)
    assert answer.status_code == 403
    project_only = bearer(make_token("team", "elsewhere"))
    answer = client.post(
        "/api/client/v1/ingest", content=create("x"), headers=project_only | PROTOBUF
    )
    assert answer.status_code == 403


def test_invalid_project_name_is_a_permanent_ingest_error(
    client: TestClient, team_auth: dict[str, str]
) -> None:
    body = RunOperation(project="no-slash", run_id="r", create=Run(family="r"))
    answer = client.post(
        "/api/client/v1/ingest", content=body.SerializeToString(), headers=team_auth | PROTOBUF
    )
    request_id = SubmitResponse.FromString(answer.content).request_id
    check = RequestIdList()
    check.ids.add(value=request_id)
    answer = client.post(
        "/api/client/v1/ingest/check?projectIdentifier=no-slash",
        content=check.SerializeToString(),
        headers=team_auth | PROTOBUF,
    )
    # the grant check happens on the project named in the query: outside 'team/*'
    assert answer.status_code == 403


def test_projects_are_created_on_first_ingest_only_when_the_token_allows_it(
    client: TestClient,
    make_token: Callable[..., str],
    bearer: Callable[[str], dict[str, str]],
    stored: Any,
) -> None:
    locked = bearer(make_token("team", "proj", can_create_projects=False))
    answer = client.post("/api/client/v1/ingest", content=create("r1"), headers=locked | PROTOBUF)
    request_id = SubmitResponse.FromString(answer.content).request_id
    (status,) = statuses(client, locked, [request_id]).statuses
    assert codes(status) == {(Code.NOT_FOUND, IngestCode.PROJECT_NOT_FOUND)}
    assert stored.run(PROJECT, "r1") is None
    allowed = bearer(make_token("team", "proj"))
    answer = client.post("/api/client/v1/ingest", content=create("r1"), headers=allowed | PROTOBUF)
    request_id = SubmitResponse.FromString(answer.content).request_id
    (status,) = statuses(client, allowed, [request_id]).statuses
    assert codes(status) == set()
    assert stored.run(PROJECT, "r1") is not None


def test_fork_lineage_is_stored(submit: Submit, stored: Any) -> None:
    submit(create("base"))
    submit(metrics("base", {"loss": [(s, float(s)) for s in range(10)]}))
    submit(create("fork", fork=("base", 4)))
    submit(metrics("fork", {"loss": [(s, -float(s)) for s in range(5, 8)]}))
    assert stored.floats(PROJECT, "fork", "loss") == [
        *[(float(s), float(s)) for s in range(5)],
        *[(float(s), -float(s)) for s in range(5, 8)],
    ]


def test_a_full_16_mib_request_is_accepted(
    client: TestClient, team_auth: dict[str, str], submit: Submit, ctx: ServerContext
) -> None:
    submit(create("big"))
    line = "x" * (1024 * 1024 - 64)  # the official client's largest string-series point
    batch = UpdateRunSnapshots()
    for step in range(16):
        snap = UpdateRunSnapshot(step=Step(whole=step))
        snap.append["logs/big"].string = line
        batch.snapshots.append(snap)
    body = RunOperation(project=PROJECT, run_id="big", update_batch=batch).SerializeToString()
    assert len(body) > 16 * MIB - 4096
    request_id = submit(body)
    (status,) = statuses(client, team_auth, [request_id]).statuses
    assert codes(status) == set()
    series = Reader(ctx.store).fetch_series(PROJECT, runs=["big"], attributes=["logs/big"])
    assert len(series) == 16
    assert series.iloc[:, 0].map(len).tolist() == [len(line)] * 16


def test_a_failing_store_answers_500_with_retry_after(
    client: TestClient, team_auth: dict[str, str], ctx: ServerContext
) -> None:
    # A database failing on demand: the one thing a real part cannot be asked to do.
    original = ctx.store.engine.write

    def broken() -> Any:
        raise OSError("disk I/O error")

    ctx.store.engine.write = broken
    try:
        answer = client.post(
            "/api/client/v1/ingest", content=create("r"), headers=team_auth | PROTOBUF
        )
    finally:
        ctx.store.engine.write = original
    assert answer.status_code == 500
    assert answer.headers["retry-after"] == "1"
    assert "retry" in answer.json()["detail"]
