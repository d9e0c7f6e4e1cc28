"""The server app in-process (Starlette's TestClient) over a real store and real server tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from despina.api import ServerContext, ServerSettings, create_app
from despina.auth import encode_api_token
from despina.store import ancestry, decode_value
from fastapi.testclient import TestClient

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


class StoredData:
    """What the store holds, read through the engine's primitives (with fork lineage)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def run(self, project: str, run_id: str) -> Any:
        with self._store.engine.read() as tx:
            row = tx.project(project)
            return None if row is None else tx.run(row.pk, run_id)

    def attributes(self, project: str, run_id: str) -> dict[str, Any]:
        run = self.run(project, run_id)
        with self._store.engine.read() as tx:
            return {p: decode_value(v) for p, (_, v) in tx.attributes(run.pk).items()}

    def floats(self, project: str, run_id: str, path: str) -> list[tuple[float, float]]:
        """The visible float series: own points, then ancestors' up to the fork step."""
        run = self.run(project, run_id)
        points: dict[float, float] = {}
        with self._store.engine.read() as tx:
            for segment in ancestry(tx, run):
                state = tx.series(segment.run.pk, [path]).get(path)
                if state is None:
                    continue
                for chunk in tx.chunks(state.pk, None, segment.up_to):
                    steps = np.frombuffer(chunk.steps, "<f8")
                    values = np.frombuffer(chunk.values, "<f8")
                    for step, value in zip(steps, values, strict=True):
                        if step <= segment.up_to:
                            points.setdefault(float(step), float(value))
        return sorted(points.items())


@pytest.fixture
def stored(ctx: ServerContext) -> StoredData:
    return StoredData(ctx.store)
