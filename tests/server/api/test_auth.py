"""Authentication endpoints A1–A4 as the official clients call them (protocol §1)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import jwt
from despina.api import ServerContext
from fastapi.testclient import TestClient

BASE_URL = "http://testserver"

EXCHANGE = "/api/backend/v1/authorization/oauth-token"


def test_config_and_discovery_lead_to_the_refresh_endpoint(client: TestClient) -> None:
    config = client.get("/api/backend/v1/clients/config").json()
    assert config["apiUrl"] == BASE_URL
    assert config["pyLibVersions"] == {}
    assert config["security"]["clientId"]
    discovery = client.get(config["security"]["openIdDiscovery"]).json()
    assert discovery["authorization_endpoint"].startswith(BASE_URL)
    assert discovery["token_endpoint"] == f"{discovery['issuer']}/protocol/openid-connect/token"


def test_exchange_returns_a_jwt_both_official_clients_accept(
    client: TestClient, make_token: Callable[..., str]
) -> None:
    answer = client.get(EXCHANGE, headers={"X-Neptune-Api-Token": make_token("team")})
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"accessToken", "refreshToken", "username"}
    claims = jwt.decode(body["accessToken"], options={"verify_signature": False})
    assert claims["exp"] > time.time() + 600
    config = client.get("/api/backend/v1/clients/config").json()
    assert claims["azp"] == config["security"]["clientId"]
    # neptune-query refreshes at {iss}/protocol/openid-connect/token: it must be ours.
    discovery = client.get(config["security"]["openIdDiscovery"]).json()
    assert claims["iss"] == discovery["issuer"]


def test_wrong_tokens_get_401_at_the_exchange(
    client: TestClient, ctx: ServerContext, make_token: Callable[..., str]
) -> None:
    unknown = base64.b64encode(
        json.dumps({"api_url": BASE_URL, "api_key": "dsp1_0_guess"}).encode()
    ).decode()
    for headers in ({}, {"X-Neptune-Api-Token": "garbage"}, {"X-Neptune-Api-Token": unknown}):
        answer = client.get(EXCHANGE, headers=headers)
        assert answer.status_code == 401
        assert answer.json()["detail"]
    token = make_token("team")
    revoked = ctx.keys.list_keys()[-1].grant.key_id
    ctx.keys.revoke(revoked)
    assert client.get(EXCHANGE, headers={"X-Neptune-Api-Token": token}).status_code == 401


def _refresh(client: TestClient, refresh_token: str) -> tuple[int, dict[str, object]]:
    config = client.get("/api/backend/v1/clients/config").json()
    endpoint = client.get(config["security"]["openIdDiscovery"]).json()["token_endpoint"]
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": config["security"]["clientId"],
        "expires_in": "-3.5",
    }
    answer = client.post(endpoint, data=form)
    return answer.status_code, answer.json()


def test_refresh_rotates_and_refuses_reuse(
    client: TestClient, make_token: Callable[..., str]
) -> None:
    body = client.get(EXCHANGE, headers={"X-Neptune-Api-Token": make_token("team")}).json()
    status, fresh = _refresh(client, body["refreshToken"])
    assert status == 200
    assert fresh["token_type"] == "Bearer"
    claims = jwt.decode(str(fresh["access_token"]), options={"verify_signature": False})
    assert claims["ws"] == "team"
    status, again = _refresh(client, body["refreshToken"])
    assert status == 400 and again["error"] == "invalid_grant"
    status, _ = _refresh(client, str(fresh["refresh_token"]))
    assert status == 200


def test_api_calls_need_a_valid_bearer(
    client: TestClient,
    make_token: Callable[..., str],
    bearer: Callable[[str], dict[str, str]],
) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic x"}):
        answer = client.post("/api/client/v1/ingest", content=b"", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["detail"]
    headers = bearer(make_token("team"))
    answer = client.post(
        "/api/client/v1/ingest/check?projectIdentifier=other/p", content=b"", headers=headers
    )
    assert answer.status_code == 403
    assert "team/*" in answer.json()["detail"]
