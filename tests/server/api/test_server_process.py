"""The real server (uvicorn in a child process): stateless processes, abuse, secret-free logs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from despina.api import ServerProcess
from despina.auth import KeyRing, ServerDatabase, encode_api_token
from neptune_api.proto.neptune_pb.ingest.v1.common_pb2 import Run
from neptune_api.proto.neptune_pb.ingest.v1.pub.client_pb2 import (
    BulkRequestStatus,
    RequestIdList,
    SubmitResponse,
)
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation
from support.scratch_postgres import scratch_postgres_database

pytestmark = pytest.mark.slow

PROTOBUF = {"Content-Type": "application/x-protobuf"}
MIB = 1024 * 1024


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def two_servers(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, ServerProcess, str]]:
    """Two server processes over one database (SQLite folder, or PostgreSQL)."""
    tmp_path = tmp_path_factory.mktemp("servers")
    if request.param == "sqlite":
        yield from _serve_two(str(tmp_path / "store"), tmp_path)
        return
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DESPINA_FILES_DIR", str(tmp_path / "files"))  # file bytes of a PG store
        with scratch_postgres_database("despina_api") as url:
            yield from _serve_two(url, tmp_path)


def _serve_two(location: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess, str]]:
    api_key, _ = KeyRing(ServerDatabase(location)).create_key("team")
    first = ServerProcess(location, tmp_path / "first.log")
    second = ServerProcess(location, tmp_path / "second.log")
    first.launch(), second.launch()
    try:
        yield first.wait_ready(), second.wait_ready(), api_key
    finally:
        first.stop()
        second.stop()


def _exchange(url: str, token: str) -> dict[str, str]:
    answer = httpx.get(
        f"{url}/api/backend/v1/authorization/oauth-token", headers={"X-Neptune-Api-Token": token}
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_processes_share_everything_through_the_database(
    two_servers: tuple[ServerProcess, ServerProcess, str],
) -> None:
    first, second, api_key = two_servers
    tokens = _exchange(first.url, encode_api_token(first.url, api_key))
    auth = {"Authorization": f"Bearer {tokens['accessToken']}"}
    op = RunOperation(project="team/p", run_id="r", create=Run(family="r"))
    answer = httpx.post(
        f"{first.url}/api/client/v1/ingest", content=op.SerializeToString(), headers=auth | PROTOBUF
    )
    request_id = SubmitResponse.FromString(answer.content).request_id
    ids = RequestIdList()
    ids.ids.add(value=request_id)
    # the access token from process 1 and the request id it issued both work on process 2
    answer = httpx.post(
        f"{second.url}/api/client/v1/ingest/check",
        params={"projectIdentifier": "team/p"},
        content=ids.SerializeToString(),
        headers=auth | PROTOBUF,
    )
    assert answer.status_code == 200
    assert len(BulkRequestStatus.FromString(answer.content).statuses) == 1
    realm = f"{second.url}/auth/realms/despina/protocol/openid-connect/token"
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refreshToken"]}
    assert httpx.post(realm, data=form).status_code == 200


def test_abuse_gets_4xx_and_logs_hold_no_secret(
    two_servers: tuple[ServerProcess, ServerProcess, str],
) -> None:
    server, _, api_key = two_servers
    token = encode_api_token(server.url, api_key)
    tokens = _exchange(server.url, token)
    auth = {"Authorization": f"Bearer {tokens['accessToken']}"}
    ingest = f"{server.url}/api/client/v1/ingest"
    assert httpx.post(ingest, content=b"\x0a\xff\xff", headers=auth | PROTOBUF).status_code == 400
    big = httpx.post(ingest, content=b"\x00" * (18 * MIB), headers=auth | PROTOBUF)
    assert big.status_code == 413
    bad = encode_api_token(server.url, api_key[:-4] + "abcd")
    exchange = f"{server.url}/api/backend/v1/authorization/oauth-token"
    assert httpx.get(exchange, headers={"X-Neptune-Api-Token": bad}).status_code == 401
    spec = {"path": "f/a.bin", "project_identifier": "team/p", "permission": "write", "size": 1}
    signed = httpx.post(
        f"{server.url}/api/storagebridge/v1/signedUrl", json={"files": [spec]}, headers=auth
    ).json()["files"][0]["url"]
    put = httpx.put(signed, content=b"x")
    assert put.status_code == 200 and put.headers["etag"]
    realm = f"{server.url}/auth/realms/despina/protocol/openid-connect/token"
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refreshToken"]}
    assert httpx.post(realm, data=form).status_code == 200
    op = RunOperation(project="team/p", run_id="still", create=Run(family="still"))
    answer = httpx.post(ingest, content=op.SerializeToString(), headers=auth | PROTOBUF)
    assert answer.status_code == 200  # still serving
    log = server.log_path.read_text()  # logging flushes every record
    assert '"PUT /storage/team/p/f/a.bin' in log  # the access log is there...
    signature = signed.split("sig=")[1]
    for secret in (api_key, token, tokens["accessToken"], tokens["refreshToken"], signature):
        assert secret not in log  # ...without a single secret


def test_redaction_keeps_uvicorn_access_records_formattable() -> None:
    import logging

    from despina.api import RedactSecrets
    from despina.auth import encode_api_token
    from uvicorn.logging import AccessFormatter

    token = encode_api_token("http://h:1", "dsp1_abc123_SECRETSECRET")
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "PUT", f"/storage/a/b/f?perm=w&exp=1&sig=abcdef0123&t={token}", "1.1", 200),
        None,
    )
    assert RedactSecrets().filter(record)
    line = AccessFormatter(use_colors=False).format(record)
    assert "PUT /storage/a/b/f?perm=w&exp=1&sig=***" in line
    assert "abcdef0123" not in line and token not in line and "SECRET" not in line
