"""Acceptance with our client: the same scenario as the official one, online and offline + sync."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from despina.cli import main as despina
from support.oracle_support import (
    ERRORS_SCRIPT,
    SCENARIO,
    LiveServer,
    StoredRuns,
    check_error_codes,
    check_scenario,
    env_for,
    run_script,
)

pytestmark = pytest.mark.slow

OURS = Path(sys.executable)


@pytest.fixture
def stored(live_server: LiveServer) -> StoredRuns:
    return StoredRuns(live_server.store_location)


def test_our_client_run_and_fork_land_exactly(
    live_server: LiveServer, tmp_path: Path, stored: StoredRuns
) -> None:
    result = run_script(OURS, SCENARIO, tmp_path, env_for(live_server, "oracle-ws/ours"))
    assert result == {"a": True, "b": True, "warnings": []}
    check_scenario(stored, "oracle-ws/ours")


def test_offline_then_despina_sync_lands_the_same_data(
    live_server: LiveServer, tmp_path: Path, stored: StoredRuns, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "offline-logs"
    env = env_for(
        live_server, "oracle-ws/offline", NEPTUNE_MODE="offline", NEPTUNE_LOG_DIRECTORY=str(logs)
    )
    run_script(OURS, SCENARIO, tmp_path, env)
    assert stored.run("oracle-ws/offline", "run-a") is None  # nothing left the machine yet
    monkeypatch.setenv("NEPTUNE_API_TOKEN", live_server.token)
    assert despina(["sync", str(logs)]) == 0
    check_scenario(stored, "oracle-ws/offline")


def test_our_client_gets_the_right_ingest_codes(
    live_server: LiveServer, tmp_path: Path, stored: StoredRuns
) -> None:
    env = env_for(live_server, "oracle-ws/ours-errors")
    seen = run_script(OURS, ERRORS_SCRIPT, tmp_path, env)["seen"]
    check_error_codes(stored, "oracle-ws/ours-errors", seen)
