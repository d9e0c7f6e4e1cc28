"""A revoked API key's access tokens stop working on every authenticated route within the
server's ``key_recheck_s``, while other keys keep working (in-process, real store and tables)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from despina.api import ServerContext, ServerSettings
from despina.auth import LiveKeys
from fastapi.testclient import TestClient
from google.protobuf.timestamp_pb2 import Timestamp
from neptune_api.proto.neptune_pb.ingest.v1.common_pb2 import Run
from neptune_api.proto.neptune_pb.ingest.v1.pub.client_pb2 import (
    BulkCheckDetail,
    RequestIdList,
    SubmitResponse,
)
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation
from support.stored_runs import StoredRuns

PROJECT = "team/proj"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
EXCHANGE = "/api/backend/v1/authorization/oauth-token"
LB = "/api/leaderboard/v1"
RECHECK_S = 30.0


class Clock:
    """The memo's monotonic clock, moved by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(ctx: ServerContext, settings: ServerSettings) -> Clock:
    """The server's own memo, on a clock the test moves (the real one would make it wait)."""
    manual = Clock()
    ctx.live_keys = LiveKeys(ctx.keys, settings.key_recheck_s, clock=manual)
    return manual


def create(run_id: str) -> bytes:
    run = Run(family=run_id, creation_time=Timestamp(seconds=1_790_000_000))
    return RunOperation(project=PROJECT, run_id=run_id, create=run).SerializeToString()


def exchange(client: TestClient, api_token: str) -> tuple[dict[str, str], str, str]:
    """(Bearer headers, refresh token, key id) from a real API-key exchange."""
    answer = client.get(EXCHANGE, headers={"X-Neptune-Api-Token": api_token})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    key_id = jwt.decode(body["accessToken"], options={"verify_signature": False})["sub"]
    return {"Authorization": f"Bearer {body['accessToken']}"}, body["refreshToken"], key_id


def ingest(client: TestClient, auth: dict[str, str], run_id: str) -> Any:
    return client.post("/api/client/v1/ingest", content=create(run_id), headers=auth | PROTOBUF)


def every_authenticated_call(
    client: TestClient, auth: dict[str, str], run_id: str
) -> dict[str, Any]:
    """One well-formed request to each route behind a Bearer token, answers by route."""
    ids = RequestIdList()
    ids.ids.add(value="0" * 32)
    details = BulkCheckDetail(project=PROJECT)
    details.ids.add(value="0" * 32)
    project_query = f"?projectIdentifier={PROJECT}"
    protobuf = auth | PROTOBUF
    file_spec = {"path": "a/b.bin", "project_identifier": PROJECT, "permission": "write"}
    definitions = {"projectIdentifiers": [PROJECT]}
    return {
        "ingest": ingest(client, auth, run_id),
        "check": client.post(
            f"/api/client/v1/ingest/check{project_query}",
            content=ids.SerializeToString(),
            headers=protobuf,
        ),
        "checkDetails": client.post(
            "/api/client/v1/ingest/checkDetails",
            content=details.SerializeToString(),
            headers=protobuf,
        ),
        "signedUrl": client.post(
            "/api/storagebridge/v1/signedUrl", json={"files": [file_spec]}, headers=auth
        ),
        "projects": client.get("/api/backend/v1/projects", headers=auth),
        "project": client.get(f"/api/backend/v1/projects/get{project_query}", headers=auth),
        "create project": client.post(
            "/api/backend/v1/projects",
            json={"name": "fresh", "organizationIdentifier": "team"},
            headers=auth,
        ),
        "search": client.post(
            f"{LB}/proto/leaderboard/entries/search/{project_query}", json={}, headers=auth
        ),
        "global search": client.post(
            f"{LB}/proto/leaderboard/entries/global/search/", json={}, headers=auth
        ),
        "definitions": client.post(
            f"{LB}/leaderboard/attributes/definitions/query", json=definitions, headers=auth
        ),
        "values": client.post(
            f"{LB}/proto/leaderboard/attributes/query{project_query}", json={}, headers=auth
        ),
        "float series": client.post(
            f"{LB}/proto/attributes/series/float", json={"requests": []}, headers=auth
        ),
    }


def test_a_revoked_keys_tokens_are_refused_everywhere_once_the_period_passed(
    client: TestClient,
    ctx: ServerContext,
    clock: Clock,
    make_token: Callable[..., str],
    stored: StoredRuns,
) -> None:
    leaked, refresh_token, key_id = exchange(client, make_token("team"))
    kept, _, _ = exchange(client, make_token("team"))
    before = every_authenticated_call(client, leaked, "before-revocation")
    assert {route: a.status_code for route, a in before.items()} == dict.fromkeys(before, 200)
    assert ctx.keys.revoke(key_id)

    # Within the period the memo answers without reading the tables: still accepted.
    clock.now += RECHECK_S - 1
    assert ingest(client, leaked, "within-the-period").status_code == 200

    clock.now += 1
    after = every_authenticated_call(client, leaked, "after-revocation")
    assert {route: a.status_code for route, a in after.items()} == dict.fromkeys(after, 403)
    for route, answer in after.items():
        assert "revoked" in answer.json()["detail"], route
    assert stored.run(PROJECT, "before-revocation") is not None
    assert stored.run(PROJECT, "within-the-period") is not None
    assert stored.run(PROJECT, "after-revocation") is None  # refused before anything was stored

    # Another key of the same workspace is untouched.
    answer = ingest(client, kept, "other-key")
    assert answer.status_code == 200, answer.text
    assert SubmitResponse.FromString(answer.content).request_id
    assert stored.run(PROJECT, "other-key") is not None

    # No way back to a fresh access token: refresh and exchange both refuse the key.
    config = client.get("/api/backend/v1/clients/config").json()
    endpoint = client.get(config["security"]["openIdDiscovery"]).json()["token_endpoint"]
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "x"}
    refused = client.post(endpoint, data=form)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_a_bad_token_is_still_401_and_a_revoked_one_403(
    client: TestClient, ctx: ServerContext, clock: Clock, make_token: Callable[..., str]
) -> None:
    api_token = make_token("team")
    auth, _, key_id = exchange(client, api_token)
    ctx.keys.revoke(key_id)
    clock.now += RECHECK_S
    assert ingest(client, auth, "r").status_code == 403
    forged = {"Authorization": auth["Authorization"][:-4] + "AAAA"}
    assert ingest(client, forged, "r").status_code == 401
    answer = client.get(EXCHANGE, headers={"X-Neptune-Api-Token": api_token})
    assert answer.status_code == 401


@pytest.mark.parametrize("recheck_s", [0.2])
def test_the_period_comes_from_the_settings_on_the_real_clock(
    tmp_path: Path, recheck_s: float, make_token: Callable[..., str]
) -> None:
    settings = ServerSettings(db=str(tmp_path / "short"), key_recheck_s=recheck_s)
    context = ServerContext.open(settings)
    try:
        from despina.api import create_app
        from despina.auth import encode_api_token

        assert context.live_keys.recheck_s == recheck_s
        api_key, grant = context.keys.create_key("team")
        with TestClient(create_app(settings, context), base_url="http://testserver") as client:
            auth, _, _ = exchange(client, encode_api_token("http://testserver", api_key))
            assert ingest(client, auth, "one").status_code == 200
            context.keys.revoke(grant.key_id)
            time.sleep(recheck_s * 1.5)
            assert ingest(client, auth, "two").status_code == 403
    finally:
        context.close()


def test_the_period_can_be_set_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ServerSettings(db=str(tmp_path)).key_recheck_s == RECHECK_S
    monkeypatch.setenv("DESPINA_KEY_RECHECK_S", "2.5")
    assert ServerSettings(db=str(tmp_path)).key_recheck_s == 2.5
    assert ServerSettings(db=str(tmp_path), key_recheck_s=7).key_recheck_s == 7
    for bad in ("0", "-3", "soon"):
        monkeypatch.setenv("DESPINA_KEY_RECHECK_S", bad)
        with pytest.raises(ValueError, match="DESPINA_KEY_RECHECK_S"):
            ServerSettings(db=str(tmp_path))
