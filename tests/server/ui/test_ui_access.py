"""The server's UI behind its login, over plain HTTP (the real app in-process, real SQLite store
and server tables): sessions from API tokens, each page and ``/ui-api`` route limited to the
token's grant, CSRF checks, revocation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from despina.api import ServerContext, ServerSettings, create_app
from despina.auth import encode_api_token
from fastapi.testclient import TestClient
from grants_scenario import (
    ALPHA,
    BETA,
    FILE_PATH,
    GAMMA,
    LOG,
    METRIC,
    RUN,
    marker,
    metric_value,
    write_grants_scenario,
)

BASE_URL = "http://testserver"
SAME_ORIGIN = {"Origin": BASE_URL}
RECHECK_S = 0.3
MISSING = "team-a/nope"

# Every /ui-api route with the parameters that read RUN of a project. A route added to the UI
# must be added here (test_every_ui_api_route_is_listed), so that its access check is tested.
ROUTES: dict[str, dict[str, Any]] = {
    "/ui-api/attributes": {},
    "/ui-api/runs": {"column": "params/owner"},
    "/ui-api/run": {"run": RUN},
    "/ui-api/compare": {"run": [RUN]},
    "/ui-api/file": {"path": FILE_PATH},
    "/ui-api/metric": {"run": [RUN], "attribute": METRIC},
    "/ui-api/metric/tail": {"run": RUN, "attribute": METRIC, "after": -1},
    "/ui-api/series": {"run": RUN, "attribute": LOG},
}
PAGES: dict[str, dict[str, Any]] = {
    "/runs": {},
    "/run": {"run": RUN},
    "/compare": {"run": [RUN]},
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ui-grants")
    write_grants_scenario(path)
    return path


@pytest.fixture(scope="module")
def ctx(folder: Path) -> Iterator[ServerContext]:
    context = ServerContext.open(ServerSettings(db=str(folder)))
    yield context
    context.close()


def make_client(ctx: ServerContext, **settings: Any) -> TestClient:
    options = {"ui": True, "ui_session_recheck_s": RECHECK_S, **settings}
    app = create_app(ServerSettings(db=ctx.settings.db, **options), ctx)
    return TestClient(app, base_url=BASE_URL, follow_redirects=False)


@pytest.fixture
def anonymous(ctx: ServerContext) -> Iterator[TestClient]:
    with make_client(ctx) as client:
        yield client


def token(ctx: ServerContext, workspace: str, project: str | None = None) -> str:
    api_key, _ = ctx.keys.create_key(workspace, project)
    return encode_api_token(BASE_URL, api_key)


def log_in(client: TestClient, api_token: str, next_url: str = "/") -> Any:
    return client.post("/login", data={"token": api_token, "next": next_url}, headers=SAME_ORIGIN)


@pytest.fixture
def alpha_viewer(ctx: ServerContext) -> Iterator[TestClient]:
    """Logged in with a token granted project ALPHA only."""
    with make_client(ctx) as client:
        assert log_in(client, token(ctx, "team-a", "alpha")).status_code == 303
        yield client


def test_anonymous_visitors_get_the_login_page_and_no_data(anonymous: TestClient) -> None:
    for path, params in {"/": {}, **PAGES}.items():
        answer = anonymous.get(path, params={"project": ALPHA, **params} if params else {})
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=%2F"), path
    for path, params in ROUTES.items():
        answer = anonymous.get(path, params={"project": ALPHA, **params})
        assert answer.status_code == 401, path
        assert marker(ALPHA) not in answer.text
    assert anonymous.get("/ui-api/projects").status_code == 401
    login = anonymous.get("/login", params={"next": "/runs?project=x"})
    assert login.status_code == 200 and 'name="token"' in login.text
    assert 'value="/runs?project=x"' in login.text
    # static files hold no data: the login page needs them
    assert anonymous.get("/ui-static/despina.css").status_code == 200


def test_bad_and_revoked_tokens_are_refused_alike(
    ctx: ServerContext, anonymous: TestClient
) -> None:
    revoked_key, grant = ctx.keys.create_key("team-a", "alpha")
    assert ctx.keys.revoke(grant.key_id)
    unknown_key, _ = ctx.keys.create_key("team-a", "alpha")
    unknown = encode_api_token(BASE_URL, unknown_key[:-4] + "AAAA")
    for bad in ("", "not a token", unknown, encode_api_token(BASE_URL, revoked_key)):
        answer = log_in(anonymous, bad)
        assert answer.status_code == 401, bad
        assert "invalid or revoked" in answer.text and 'name="token"' in answer.text
        assert "set-cookie" not in answer.headers
        assert anonymous.get("/ui-api/projects").status_code == 401


def test_a_good_token_gets_a_session_cookie(ctx: ServerContext, anonymous: TestClient) -> None:
    answer = log_in(
        anonymous, token(ctx, "team-a", "alpha"), next_url="/runs?project=team-a%2Falpha"
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/runs?project=team-a%2Falpha"
    cookie = answer.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "max-age", "path"} <= attributes and "secure" not in attributes
    assert "samesite=lax" in cookie.lower() and "max-age=43200" in cookie.lower()
    assert anonymous.get("/ui-api/projects").json() == {"projects": [ALPHA]}


def test_the_cookie_is_secure_when_the_public_url_is_https(ctx: ServerContext) -> None:
    with make_client(ctx, public_url="https://despina.example") as client:
        answer = client.post(
            "/login",
            data={"token": token(ctx, "team-a", "alpha")},
            headers={"Origin": "https://despina.example"},
        )
        assert answer.status_code == 303
        assert "secure" in answer.headers["set-cookie"].lower()


def test_next_never_leaves_the_server(ctx: ServerContext, anonymous: TestClient) -> None:
    good = token(ctx, "team-a", "alpha")
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "runs"):
        assert log_in(anonymous, good, next_url=target).headers["location"] == "/"


def test_every_ui_api_route_is_listed(anonymous: TestClient) -> None:
    schema = anonymous.app.openapi()  # type: ignore[attr-defined]
    served = {path for path in schema["paths"] if path.startswith("/ui-api/")}
    assert served == {*ROUTES, "/ui-api/projects"}


def test_a_project_token_reads_its_project(alpha_viewer: TestClient) -> None:
    for path, params in ROUTES.items():
        answer = alpha_viewer.get(path, params={"project": ALPHA, **params})
        assert answer.status_code == 200, (path, answer.text)
    run = alpha_viewer.get("/ui-api/run", params={"project": ALPHA, "run": RUN}).json()
    assert {"name": "params/owner", "value": marker(ALPHA)} in run["configs"]
    chart = alpha_viewer.get(
        "/ui-api/metric", params={"project": ALPHA, **ROUTES["/ui-api/metric"]}
    )
    assert set(chart.json()["series"][0]["y"]) == {metric_value(ALPHA)}
    file = alpha_viewer.get("/ui-api/file", params={"project": ALPHA, "path": FILE_PATH})
    assert file.content == marker(ALPHA).encode()


@pytest.mark.parametrize("other", [BETA, GAMMA, MISSING])
def test_other_projects_answer_as_missing_ones(alpha_viewer: TestClient, other: str) -> None:
    for path, params in ROUTES.items():
        answer = alpha_viewer.get(path, params={"project": other, **params})
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["detail"] == f"no project {other!r}", path
        for project in (ALPHA, BETA, GAMMA):  # no data, and no project named but the one asked
            assert marker(project) not in answer.text
            assert project == other or project not in answer.text
    assert alpha_viewer.get("/ui-api/projects").json() == {"projects": [ALPHA]}
    for path, params in PAGES.items():
        page = alpha_viewer.get(path, params={"project": other, **params})
        assert page.status_code == 404 and "no project" in page.text, path
        assert marker(other) not in page.text


def test_pages_list_only_the_granted_projects(alpha_viewer: TestClient) -> None:
    home = alpha_viewer.get("/")
    assert home.status_code == 307 and home.headers["location"] == "/runs?project=team-a%2Falpha"
    page = alpha_viewer.get("/runs", params={"project": ALPHA})
    assert page.status_code == 200 and ALPHA in page.text
    assert BETA not in page.text and GAMMA not in page.text
    assert 'action="/logout"' in page.text


def test_a_workspace_token_sees_its_workspace(ctx: ServerContext, anonymous: TestClient) -> None:
    assert log_in(anonymous, token(ctx, "team-a")).status_code == 303
    assert anonymous.get("/ui-api/projects").json() == {"projects": [ALPHA, BETA]}
    runs = anonymous.get("/ui-api/runs", params={"project": BETA, "column": "params/owner"})
    assert runs.json()["rows"][0]["values"]["params/owner"] == marker(BETA)
    assert anonymous.get("/ui-api/runs", params={"project": GAMMA}).status_code == 404


def test_cross_site_posts_are_refused(ctx: ServerContext, anonymous: TestClient) -> None:
    good = token(ctx, "team-a", "alpha")
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Referer": "http://evil.example/page"},
        {},
    ):
        answer = anonymous.post("/login", data={"token": good}, headers=headers)
        assert answer.status_code == 403, headers
        assert "set-cookie" not in answer.headers
    referer = anonymous.post("/login", data={"token": good}, headers={"Referer": f"{BASE_URL}/x"})
    assert referer.status_code == 303
    assert anonymous.post("/logout", headers={"Origin": "http://evil.example"}).status_code == 403
    assert anonymous.get("/ui-api/projects").status_code == 200  # still logged in


def test_logout_ends_the_session(alpha_viewer: TestClient) -> None:
    answer = alpha_viewer.post("/logout", headers=SAME_ORIGIN)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert 'despina_session=""' in answer.headers["set-cookie"]
    assert alpha_viewer.get("/ui-api/projects").status_code == 401


def test_forged_and_foreign_tokens_are_no_session(
    ctx: ServerContext, anonymous: TestClient
) -> None:
    api_token = token(ctx, "team-b")
    assert log_in(anonymous, api_token).status_code == 303
    session = anonymous.cookies["despina_session"]
    head, payload, signature = session.split(".")
    access = anonymous.get(
        "/api/backend/v1/authorization/oauth-token", headers={"X-Neptune-Api-Token": api_token}
    ).json()["accessToken"]
    # a tampered signature, an API access token as the cookie
    for forged in (f"{head}.{payload}.{signature[::-1]}", access):
        anonymous.cookies.clear()
        anonymous.cookies.set("despina_session", forged)
        assert anonymous.get("/ui-api/projects").status_code == 401
    # and the session cookie is no Bearer token for the API
    listing = anonymous.get(
        "/api/backend/v1/projects", headers={"Authorization": f"Bearer {session}"}
    )
    assert listing.status_code == 401


def test_a_revoked_tokens_session_ends_within_the_recheck(
    ctx: ServerContext, anonymous: TestClient
) -> None:
    api_key, grant = ctx.keys.create_key("team-b")
    assert log_in(anonymous, encode_api_token(BASE_URL, api_key)).status_code == 303
    assert anonymous.get("/ui-api/projects").json() == {"projects": [GAMMA]}
    assert ctx.keys.revoke(grant.key_id)
    time.sleep(RECHECK_S * 1.5)
    assert anonymous.get("/ui-api/projects").status_code == 401
    assert anonymous.get("/runs", params={"project": GAMMA}).status_code == 303


def test_a_prefixed_ui_keeps_its_login_under_the_prefix(ctx: ServerContext) -> None:
    from despina.ui import TokenLogin, create_router
    from fastapi import FastAPI

    app = FastAPI()
    app.include_router(create_router(ctx.store, prefix="/ui", login=TokenLogin(ctx.keys)))
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as client:
        page = client.get("/ui/runs", params={"project": ALPHA})
        assert page.status_code == 303
        back = "%2Fui%2Fruns%3Fproject%3Dteam-a%252Falpha"
        assert page.headers["location"] == f"/ui/login?next={back}"
        assert 'action="/ui/login"' in client.get("/ui/login").text
        answer = client.post(
            "/ui/login",
            data={"token": token(ctx, "team-a", "alpha"), "next": "/elsewhere"},
            headers=SAME_ORIGIN,
        )
        assert answer.headers["location"] == "/ui/"  # next must stay under the prefix
        assert "path=/ui" in answer.headers["set-cookie"].lower()
        assert client.get("/ui/ui-api/projects").json() == {"projects": [ALPHA]}
