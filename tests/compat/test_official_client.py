"""Acceptance: the official neptune-scale 0.30.0, unchanged, logs to our server (issue 4)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from despina.cli import main as despina
from despina.store import StoredFileNotFound
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

pytestmark = [pytest.mark.oracle, pytest.mark.slow]

PROJECT = "oracle-ws/official"


@pytest.fixture
def stored(live_server: LiveServer) -> StoredRuns:
    return StoredRuns(live_server.store_location)


def test_official_client_run_and_fork_land_exactly(
    official_python: Path, live_server: LiveServer, tmp_path: Path, stored: StoredRuns
) -> None:
    result = run_script(official_python, SCENARIO, tmp_path, env_for(live_server, PROJECT))
    assert result == {"a": True, "b": True, "warnings": []}
    check_scenario(stored, PROJECT)


def test_official_client_gets_the_right_ingest_codes(
    official_python: Path, live_server: LiveServer, tmp_path: Path, stored: StoredRuns
) -> None:
    seen = run_script(official_python, ERRORS_SCRIPT, tmp_path, env_for(live_server, PROJECT))[
        "seen"
    ]
    check_error_codes(stored, PROJECT, seen)
    with pytest.raises(StoredFileNotFound):
        stored.store.open_file(PROJECT, "never/uploaded.bin")


def test_official_offline_run_then_despina_sync(
    official_python: Path,
    live_server: LiveServer,
    tmp_path: Path,
    stored: StoredRuns,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logs = tmp_path / "official-offline"
    env = env_for(
        live_server,
        "oracle-ws/official-offline",
        NEPTUNE_MODE="offline",
        NEPTUNE_LOG_DIRECTORY=str(logs),
    )
    run_script(official_python, SCENARIO, tmp_path, env)
    # our client's offline runs in the same log directory go along in the same sync
    ours = env | {"NEPTUNE_PROJECT": "oracle-ws/ours-beside-official"}
    run_script(Path(sys.executable), SCENARIO, tmp_path, ours)
    assert stored.run("oracle-ws/official-offline", "run-a") is None
    monkeypatch.setenv("NEPTUNE_API_TOKEN", live_server.token)
    assert despina(["sync", str(logs)]) == 0
    check_scenario(stored, "oracle-ws/official-offline")
    check_scenario(stored, "oracle-ws/ours-beside-official")
    assert despina(["sync", str(logs)]) == 0  # a second sync finds nothing left to send


PROJECTS_SCRIPT = """
import json
from neptune_scale.projects import create_project, list_projects
from neptune_scale.exceptions import NeptuneProjectAlreadyExists

created = create_project("made-by-official", workspace="oracle-ws")
create_project("made-by-official", workspace="oracle-ws")  # exists: fine without the flag
try:
    create_project("oracle-ws/made-by-official", fail_if_exists=True)
    duplicate = "no error"
except NeptuneProjectAlreadyExists:
    duplicate = "NeptuneProjectAlreadyExists"
print(json.dumps({"created": created, "duplicate": duplicate, "listed": list_projects()}))
"""


def test_official_project_helpers(
    official_python: Path, live_server: LiveServer, tmp_path: Path
) -> None:
    env = env_for(live_server, PROJECT)
    result = run_script(official_python, PROJECTS_SCRIPT, tmp_path, env)
    assert result["created"] == "oracle-ws/made-by-official"
    assert result["duplicate"] == "NeptuneProjectAlreadyExists"
    assert "oracle-ws/made-by-official" in result["listed"]
    assert all(name.startswith("oracle-ws/") for name in result["listed"])
