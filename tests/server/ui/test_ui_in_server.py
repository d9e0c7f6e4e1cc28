"""The UI included in the Neptune protocol server with one line, next to its ``/api/...`` routes."""

from __future__ import annotations

from pathlib import Path

from despina.api import ServerSettings, create_app
from despina.ui import create_router
from fastapi.testclient import TestClient


def test_ui_router_in_the_server_app(store_dir: Path, project: str) -> None:
    # Without login, explicitly (login=None): whoever reaches this app reads every project.
    app = create_app(ServerSettings(db=str(store_dir)))
    # The server opens its store at startup, so the UI gets a function that returns it.
    app.include_router(create_router(lambda: app.state.ctx.store, login=None))
    with TestClient(app) as client:
        page = client.get("/runs", params={"project": project})
        assert page.status_code == 200 and "/ui-static/runs.js" in page.text
        body = client.get("/ui-api/runs", params={"project": project, "filter": "tag:baseline"})
        assert [row["run"] for row in body.json()["rows"]] == ["base-1"]
        bad = client.get("/ui-api/runs", params={"project": project, "limit": 0})
        assert bad.status_code == 422 and "limit" in bad.json()["detail"]
        # the protocol's routes are still the server's
        assert client.get("/api/backend/v1/clients/config").status_code != 404


def test_server_serves_the_ui_behind_a_login_only_when_asked(store_dir: Path, project: str) -> None:
    settings = ServerSettings(db=str(store_dir), ui=True)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        page = client.get("/runs", params={"project": project})
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
        assert "/ui-static/common.js" in client.get("/login").text
    with TestClient(create_app(ServerSettings(db=str(store_dir)))) as client:
        assert client.get("/runs", params={"project": project}).status_code == 404
        assert client.get("/login").status_code == 404
