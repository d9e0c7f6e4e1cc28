"""The http transport against the real server app: in-process through Starlette's TestClient
(an ``httpx.Client``, so the transport runs unchanged without sockets)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from despina.api import ServerContext, ServerSettings, create_app
from despina.auth import encode_api_token
from fastapi.testclient import TestClient
from neptune_scale._http import HttpTransport

BASE_URL = "http://testserver"


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[ServerContext]:
    context = ServerContext.open(ServerSettings(db=str(tmp_path / "store")))
    yield context
    context.close()


@pytest.fixture
def api_token(ctx: ServerContext) -> str:
    api_key, _ = ctx.keys.create_key("team")
    return encode_api_token(BASE_URL, api_key)


@pytest.fixture
def transport(ctx: ServerContext, api_token: str) -> Iterator[HttpTransport]:
    app = create_app(ctx.settings, ctx)
    with TestClient(app, base_url=BASE_URL) as client:
        http = HttpTransport(api_token, client=client)
        yield http
        http.close()
