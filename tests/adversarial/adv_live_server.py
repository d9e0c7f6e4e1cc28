"""A real ``despina server`` process (uvicorn in a child process) and a token for it.

Shared by the adversarial tests: the store is seeded through ``Store.apply`` before the server
starts, and ``LiveServer`` carries the Bearer headers of a workspace-wide token.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from despina.api import ServerProcess
from despina.auth import KeyRing, ServerDatabase, encode_api_token
from despina.store import open_store

WORKSPACE = "team"


@dataclass(frozen=True)
class LiveServer:
    url: str
    api_token: str
    auth: dict[str, str]  # Authorization: Bearer <access token>
    log_path: Path


@contextmanager
def postgres_database() -> Iterator[str]:
    """A scratch database on the test PostgreSQL server (DESPINA_TEST_POSTGRES), dropped after."""
    url = os.environ.get("DESPINA_TEST_POSTGRES")
    if not url:
        pytest.skip("DESPINA_TEST_POSTGRES is not set (scripts/postgres-start sets it)")
    import psycopg

    name = f"despina_adv_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{url.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@contextmanager
def live_server(location: str, tmp_path: Path, seed: Sequence[Any] = ()) -> Iterator[LiveServer]:
    """Seed the store at ``location`` with ``seed`` operations, then serve it."""
    store = open_store(location)
    try:
        issues = store.apply(list(seed))
        assert all(found == () for found in issues), issues
    finally:
        store.close()
    api_key, _ = KeyRing(ServerDatabase(location)).create_key(WORKSPACE)
    with ServerProcess(location, tmp_path / "server.log") as server:
        token = encode_api_token(server.url, api_key)
        answer = httpx.get(
            f"{server.url}/api/backend/v1/authorization/oauth-token",
            headers={"X-Neptune-Api-Token": token},
        )
        assert answer.status_code == 200, answer.text
        auth = {"Authorization": f"Bearer {answer.json()['accessToken']}"}
        yield LiveServer(server.url, token, auth, server.log_path)
