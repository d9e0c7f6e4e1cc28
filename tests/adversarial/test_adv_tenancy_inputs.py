"""Issue 12.11 and 12.12: ``/ingest`` answers 415 to a body not declared as the protobuf type
the official client sends (and keeps taking what it and ours send); ``/ui-api/file`` answers a
path that leaves the project with 400, never a 500 with a traceback in the log."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from despina.api import ServerContext, ServerSettings, create_app
from despina.auth import encode_api_token
from fastapi.testclient import TestClient
from support.adv_tenancy_world import OURS, SHARED, create, write_tenants

BASE_URL = "http://testserver"
INGEST = "/api/client/v1/ingest"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = ServerSettings(db=str(tmp_path / "store"), ui=True)
    ctx = ServerContext.open(settings)
    try:
        write_tenants(ctx.store)
        api_key, _ = ctx.keys.create_key("team-a", "alpha")
        token = encode_api_token(BASE_URL, api_key)
        app = create_app(settings, ctx)
        with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
            exchanged = client.get(
                "/api/backend/v1/authorization/oauth-token",
                headers={"X-Neptune-Api-Token": token},
            )
            auth = {"Authorization": f"Bearer {exchanged.json()['accessToken']}"}
            client.post("/login", data={"token": token}, headers={"Origin": BASE_URL})
            yield client, auth
    finally:
        ctx.close()


def _stored_runs(client: TestClient) -> list[str]:
    rows = client.get("/ui-api/runs", params={"project": OURS}).json()["rows"]
    return sorted(row["run"] for row in rows)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/octet-stream",
        "application/x-protobuf-but-not",
        None,
    ],
)
def test_ingest_refuses_other_content_types(
    server: tuple[TestClient, dict[str, str]], content_type: str | None
) -> None:
    client, auth = server
    headers = dict(auth) if content_type is None else {**auth, "Content-Type": content_type}
    body = create(OURS, "sneaked").SerializeToString()
    answer = client.post(INGEST, content=body, headers=headers)
    assert answer.status_code == 415, answer.text
    assert "Content-Type" in answer.json()["message"] and "application/x-protobuf" in answer.text
    assert "sneaked" not in _stored_runs(client)


def test_ingest_takes_what_the_official_client_and_ours_send(
    server: tuple[TestClient, dict[str, str]],
) -> None:
    """The official client's request is built by neptune-api's generated code; ours by
    neptune_scale's HTTP transport (its header constant)."""
    from neptune_api.api.ingestion import ingest as official
    from neptune_api.types import File
    from neptune_scale._http import _transport as ours

    client, auth = server
    sent = official._get_kwargs(
        body=File(payload=io.BytesIO(create(OURS, "r1").SerializeToString()))
    )
    assert (
        client.post(INGEST, content=sent["content"], headers=auth | sent["headers"]).status_code
        == 200
    )
    body = create(OURS, "r2").SerializeToString()
    mine = client.post(INGEST, content=body, headers={**auth, "Content-Type": ours.PROTOBUF})
    assert mine.status_code == 200
    spaced = {**auth, "Content-Type": "Application/X-Protobuf; charset=binary"}
    assert (
        client.post(
            INGEST, content=create(OURS, "r3").SerializeToString(), headers=spaced
        ).status_code
        == 200
    )
    assert {"r1", "r2", "r3"} <= set(_stored_runs(client))


@pytest.mark.parametrize(
    "path",
    [
        "../x",
        "..",
        "/etc/passwd",
        "files/../../../../etc/passwd",
        "../../team-b/gamma/files/secret.txt",  # another tenant's file, by its folder
        "a\\..\\..\\x",
        "a\x00b",
        "x" * 1025,  # past the longest destination stored (1,024 characters)
    ],
)
def test_a_file_path_leaving_the_project_is_a_400(
    server: tuple[TestClient, dict[str, str]], path: str, caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = server
    with caplog.at_level(logging.DEBUG):
        answer = client.get("/ui-api/file", params={"project": OURS, "path": path})
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"].startswith("path: ")
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_a_signed_url_for_a_path_leaving_the_project_is_a_400(
    server: tuple[TestClient, dict[str, str]],
) -> None:
    client, auth = server
    spec = {"path": "../../team-b/gamma/files/secret.txt", "project_identifier": OURS}
    answer = client.post(
        "/api/storagebridge/v1/signedUrl",
        json={"files": [{**spec, "permission": "read"}]},
        headers=auth,
    )
    assert answer.status_code == 400 and "'..'" in answer.json()["message"]


def test_a_missing_file_is_a_404(server: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = server
    answer = client.get("/ui-api/file", params={"project": OURS, "path": f"{SHARED}/nothing"})
    assert answer.status_code == 404 and "nothing" in answer.json()["message"]
