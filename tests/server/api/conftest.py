"""The server app in-process (Starlette's TestClient) over a real store and real server tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from despina.api import ServerContext, ServerSettings, create_app
from despina.auth import encode_api_token
from fastapi.testclient import TestClient
from support.stored_runs import StoredRuns

BASE_URL = "http://testserver"


@pytest.fixture
def settings(tmp_path: Path) -> ServerSettings:
    return ServerSettings(db=str(tmp_path / "store"))


@pytest.fixture
def ctx(settings: ServerSettings) -> Iterator[ServerContext]:
    context = ServerContext.open(settings)
    yield context
    context.close()


@pytest.fixture
def client(settings: ServerSettings, ctx: ServerContext) -> Iterator[TestClient]:
    with TestClient(create_app(settings, ctx), base_url=BASE_URL) as test_client:
        yield test_client


MakeToken = Callable[..., str]
Bearer = Callable[[str], dict[str, str]]


@pytest.fixture
def make_token(ctx: ServerContext) -> MakeToken:
    """``make_token(workspace, project=None, **grant options)`` → a Neptune-format API token."""

    def make(workspace: str, project: str | None = None, **options: bool) -> str:
        api_key, _ = ctx.keys.create_key(workspace, project, **options)
        return encode_api_token(BASE_URL, api_key)

    return make


@pytest.fixture
def bearer(client: TestClient) -> Bearer:
    """``bearer(api_token)`` → Authorization headers from a real API-key exchange."""

    def exchange(api_token: str) -> dict[str, str]:
        answer = client.get(
            "/api/backend/v1/authorization/oauth-token", headers={"X-Neptune-Api-Token": api_token}
        )
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['accessToken']}"}

    return exchange


@pytest.fixture
def team_auth(make_token: MakeToken, bearer: Bearer) -> dict[str, str]:
    """Bearer headers of a token for every project of workspace ``team``."""
    return bearer(make_token("team"))


@pytest.fixture
def stored(ctx: ServerContext) -> StoredRuns:
    return StoredRuns(ctx.store)
