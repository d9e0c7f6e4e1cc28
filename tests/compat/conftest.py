"""The official clients, each in its own venv, against our server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from despina.api import ServerProcess
from despina.auth import KeyRing, ServerDatabase, encode_api_token
from support.oracle_support import ORACLE_SCALE, LiveServer, oracle_venv


@pytest.fixture(scope="session")
def official_python() -> Path:
    return oracle_venv(ORACLE_SCALE)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the session (starting one costs seconds); tests use their own projects."""
    tmp_path = tmp_path_factory.mktemp("live-server")
    location = str(tmp_path / "store")
    ring = KeyRing(ServerDatabase(location))
    process = ServerProcess(location, tmp_path / "server.log")
    api_key, _ = ring.create_key("oracle-ws")
    with process:
        yield LiveServer(
            process.url, encode_api_token(process.url, api_key), location, process.log_path
        )
