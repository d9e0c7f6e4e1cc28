"""A real ``despina server`` process (uvicorn in a child process) and a token for it.

Shared by the adversarial tests: the store is seeded through ``Store.apply`` before the server
starts, and ``LiveServer`` carries the Bearer headers of a workspace-wide token.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
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
