"""The client's http transport: submit, check (codes and per-path messages), files, failures."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import httpx
import pytest
from despina.api import ServerContext, free_port
from neptune_api.proto.neptune_pb.ingest.v1.common_pb2 import (
    Run,
    Step,
    UpdateRunSnapshot,
    UpdateRunSnapshots,
)
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation
from neptune_scale._http import HttpTransport, create_http_transport
from neptune_scale.exceptions import (
    NeptuneConnectionLostError,
    NeptuneInvalidCredentialsError,
    NeptuneUnauthorizedError,
)
from neptune_scale.transport import Failed, Processed, Submitted

pytestmark = pytest.mark.filterwarnings("ignore:You should not use the .timeout. argument")

PROJECT = "team/proj"


def create(run_id: str, project: str = PROJECT) -> bytes:
    return RunOperation(
        project=project, run_id=run_id, create=Run(family=run_id)
    ).SerializeToString()


def points(run_id: str, path: str, steps: list[int]) -> bytes:
    batch = UpdateRunSnapshots()
    for step in steps:
        snap = UpdateRunSnapshot(step=Step(whole=step))
        snap.append[path].float64 = float(step)
        batch.snapshots.append(snap)
    return RunOperation(project=PROJECT, run_id=run_id, update_batch=batch).SerializeToString()


def submitted(result: Submitted | Failed) -> str:
    assert isinstance(result, Submitted), result
    return result.request_id


def test_submit_and_check_report_codes_with_paths_and_counts(transport: HttpTransport) -> None:
    ok = submitted(transport.submit(PROJECT, "r", create("r")))
    good = submitted(transport.submit(PROJECT, "r", points("r", "a", [5, 6])))
    bad = submitted(
        transport.submit(
            PROJECT,
            "r",
            RunOperation(
                project=PROJECT,
                run_id="r",
                update_batch=UpdateRunSnapshots(
                    snapshots=[
                        _snap({"a": 1.0, "b": 1.0}, 1),  # a: not increasing; b: fine
                        _snap({"a": 2.0}, 2),  # a: not increasing again
                        _snap({"c": 1.0}, 1),
                    ]
                ),
            ).SerializeToString(),
        )
    )
    result = transport.check(PROJECT, [ok, good, bad])
    assert isinstance(result, list)
    assert result[0] == Processed() and result[1] == Processed()
    third = result[2]
    assert isinstance(third, Processed)
    assert [(i.code, i.path) for i in third.issues] == [
        (IngestCode.SERIES_STEP_NON_INCREASING, "a")
    ]
    assert third.issues[0].count == 2
    assert "a" in third.issues[0].message


def _snap(values: dict[str, float], step: int) -> UpdateRunSnapshot:
    snap = UpdateRunSnapshot(step=Step(whole=step))
    for path, value in values.items():
        snap.append[path].float64 = value
    return snap


def test_forbidden_project_is_not_retryable(transport: HttpTransport) -> None:
    result = transport.submit("other/proj", "r", create("r", "other/proj"))
    assert isinstance(result, Failed)
    assert not result.retryable
    assert isinstance(result.error, NeptuneUnauthorizedError)


def test_files_upload_and_land_in_the_store(
    transport: HttpTransport, ctx: ServerContext, tmp_path: Path
) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(b"\x00\x01" * 50_000)
    assert (
        transport.upload_file(PROJECT, "r/files/weights.bin", source, "application/x-foo") is None
    )
    with ctx.store.open_file(PROJECT, "r/files/weights.bin") as handle:
        assert handle.read() == source.read_bytes()


def test_refresh_keeps_the_transport_working(transport: HttpTransport) -> None:
    submitted(transport.submit(PROJECT, "r", create("r")))
    transport._auth._expires_at = 0.0  # as if the access token had expired
    submitted(transport.submit(PROJECT, "r", points("r", "x", [1])))


def test_a_wrong_token_fails_for_good(ctx: ServerContext, transport: HttpTransport) -> None:
    token = base64.b64encode(
        json.dumps({"api_url": "http://testserver", "api_key": "dsp1_x_y"}).encode()
    ).decode()
    wrong = HttpTransport(token, client=transport._client)
    result = wrong.submit(PROJECT, "r", create("r"))
    assert isinstance(result, Failed) and not result.retryable
    assert isinstance(result.error, NeptuneInvalidCredentialsError)
    with pytest.raises(NeptuneInvalidCredentialsError):
        create_http_transport("not a token")


def test_server_down_at_start_up_is_retryable_then_works(
    ctx: ServerContext, tmp_path: Path
) -> None:
    from despina.api import ServerProcess
    from despina.auth import encode_api_token

    port = free_port()
    api_key, _ = ctx.keys.create_key("team")
    http = create_http_transport(encode_api_token(f"http://127.0.0.1:{port}", api_key))
    try:
        down = http.submit(PROJECT, "r", create("r"))
        assert isinstance(down, Failed) and down.retryable
        assert isinstance(down.error, NeptuneConnectionLostError)
        with ServerProcess(ctx.settings.db, tmp_path / "server.log", port=port):
            request_id = submitted(http.submit(PROJECT, "r", create("r")))
            assert http.check(PROJECT, [request_id]) == [Processed()]
    finally:
        http.close()


def _fake_jwt() -> str:
    claims = base64.urlsafe_b64encode(json.dumps({"exp": time.time() + 3600}).encode()).decode()
    return f"e30.{claims.rstrip('=')}.sig"


@pytest.mark.parametrize("failing", ["oauth-token", "ingest"])
def test_retry_after_reaches_the_sender(api_token: str, failing: str) -> None:
    # A real server does not throttle on demand: this one answer is scripted.
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(failing):
            return httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "slow down"})
        return httpx.Response(200, json={"accessToken": _fake_jwt(), "refreshToken": "r"})

    client = httpx.Client(base_url="http://testserver", transport=httpx.MockTransport(handler))
    result = HttpTransport(api_token, client=client).submit(PROJECT, "r", create("r"))
    assert isinstance(result, Failed) and result.retryable
    assert result.retry_after_s == 7.0
    assert "slow down" in str(result.error)


def test_unreadable_answers_and_missing_files_are_results_not_exceptions(
    api_token: str, tmp_path: Path
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("oauth-token"):
            return httpx.Response(200, json={"accessToken": _fake_jwt(), "refreshToken": "r"})
        return httpx.Response(200, content=b"<html>a proxy's page</html>")

    client = httpx.Client(base_url="http://testserver", transport=httpx.MockTransport(handler))
    http = HttpTransport(api_token, client=client)
    submit = http.submit(PROJECT, "r", create("r"))
    assert isinstance(submit, Failed) and submit.retryable
    check = http.check(PROJECT, ["x"])
    assert isinstance(check, Failed) and check.retryable
    upload = http.upload_file(PROJECT, "d.bin", tmp_path / "missing.bin", "text/plain")
    assert isinstance(upload, Failed) and not upload.retryable
    upload = http.upload_file(PROJECT, "d.bin", Path(__file__), "text/plain")
    assert isinstance(upload, Failed) and upload.retryable  # the signedUrl answer is not JSON
