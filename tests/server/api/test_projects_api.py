"""Project endpoints as the official ``neptune_scale.projects`` helpers call them."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

PROJECTS = "/api/backend/v1/projects"


def test_create_list_get_within_the_grant(
    client: TestClient,
    make_token: Callable[..., str],
    bearer: Callable[[str], dict[str, str]],
) -> None:
    team = bearer(make_token("team"))
    body = {"name": "vision", "organizationIdentifier": "team", "visibility": "priv"}
    created = client.post(PROJECTS, json=body, headers=team)
    assert created.status_code == 200, created.text
    assert created.json()["organizationName"] == "team" and created.json()["name"] == "vision"
    assert client.post(PROJECTS, json=body, headers=team).status_code == 409
    bad = {"name": "a/b", "organizationIdentifier": "team"}
    assert client.post(PROJECTS, json=bad, headers=team).status_code in (400, 403)
    other = bearer(make_token("other"))
    assert client.post(PROJECTS, json=body | {"name": "x"}, headers=other).status_code == 403
    locked = bearer(make_token("team", can_create_projects=False))
    assert client.post(PROJECTS, json=body | {"name": "y"}, headers=locked).status_code == 403
    client.post(PROJECTS, json={"name": "p", "organizationIdentifier": "other"}, headers=other)
    names = [e["name"] for e in client.get(PROJECTS, headers=team).json()["entries"]]
    assert names == ["vision"]  # 'other/p' exists but is outside the grant
    got = client.get(f"{PROJECTS}/get", params={"projectIdentifier": "team/vision"}, headers=team)
    assert got.json()["projectKey"]
    missing = client.get(f"{PROJECTS}/get", params={"projectIdentifier": "team/no"}, headers=team)
    assert missing.status_code == 404
