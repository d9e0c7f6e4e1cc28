"""A team server across hosts (issue 20): two ``despina server`` processes on one PostgreSQL
and one S3 bucket (moto's standalone server on 127.0.0.1), no shared folder.

The official neptune-scale client logs through one process and ours through the other (live,
and offline then ``despina sync``); file bytes go to the bucket through its pre-signed URLs
(never through a server process), and each process serves the files the other's client sent.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from despina.api import ServerProcess
from despina.auth import KeyRing, ServerDatabase, encode_api_token
from despina.cli import main as despina
from s3_server import S3Server, s3_bucket
from support.oracle_support import (
    SCENARIO,
    LiveServer,
    StoredRuns,
    check_scenario,
    env_for,
    run_script,
)
from support.scratch_postgres import scratch_postgres_database

pytestmark = [pytest.mark.postgres, pytest.mark.oracle, pytest.mark.slow]

SIGNED_URL = "/api/storagebridge/v1/signedUrl"


@pytest.fixture
def team(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[S3Server, str, list[LiveServer]]]:
    with s3_bucket(monkeypatch) as s3, scratch_postgres_database("despina_s3") as url:
        monkeypatch.setenv("DESPINA_FILES", s3.files_url("team-files"))
        monkeypatch.delenv("DESPINA_FILES_DIR", raising=False)  # no shared folder at all
        api_key, _ = KeyRing(ServerDatabase(url)).create_key("team")
        processes = [ServerProcess(url, tmp_path / f"server-{i}.log").launch() for i in (1, 2)]
        try:
            servers = []
            for process in processes:
                process.wait_ready()
                token = encode_api_token(process.url, api_key)
                servers.append(LiveServer(process.url, token, url, process.log_path))
            yield s3, url, servers
        finally:
            for process in processes:
                process.stop()


def _bearer(server: LiveServer) -> dict[str, str]:
    answer = httpx.get(
        f"{server.url}/api/backend/v1/authorization/oauth-token",
        headers={"X-Neptune-Api-Token": server.token},
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['accessToken']}"}


def _signed(server: LiveServer, project: str, path: str, permission: str) -> str:
    spec = {"path": path, "project_identifier": project, "permission": permission}
    answer = httpx.post(
        f"{server.url}{SIGNED_URL}", json={"files": [spec]}, headers=_bearer(server)
    )
    assert answer.status_code == 200, answer.text
    (entry,) = answer.json()["files"]
    assert entry["path"] == path and entry["provider"] == "aws"
    return str(entry["url"])


def test_two_servers_one_postgres_one_bucket_serve_each_others_files(
    team: tuple[S3Server, str, list[LiveServer]],
    official_python: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s3, url, (first, second) = team
    for name, python, server in (
        ("official", official_python, first),
        ("ours", Path(sys.executable), second),
    ):
        folder = tmp_path / name
        folder.mkdir()
        result = run_script(python, SCENARIO, folder, env_for(server, f"team/{name}"))
        assert result == {"a": True, "b": True, "warnings": []}

    # offline runs delivered later by `despina sync`, files included
    logs = tmp_path / "offline-logs"
    offline = env_for(
        second, "team/offline", NEPTUNE_MODE="offline", NEPTUNE_LOG_DIRECTORY=str(logs)
    )
    run_script(Path(sys.executable), SCENARIO, tmp_path, offline)
    monkeypatch.setenv("NEPTUNE_API_TOKEN", second.token)
    assert despina(["sync", str(logs)]) == 0

    stored = StoredRuns(url)  # DESPINA_FILES names the bucket here too
    try:
        for name in ("official", "ours", "offline"):
            check_scenario(stored, f"team/{name}")  # reads the file back from the bucket
        official_file = stored.attributes("team/official", "run-a")["files/blob"]["path"]
        our_file = stored.attributes("team/ours", "run-a")["files/blob"]["path"]
    finally:
        stored.close()

    # Each process hands out the bucket's URL for the file the other process's client sent
    for server, project, path in (
        (second, "team/official", official_file),
        (first, "team/ours", our_file),
    ):
        read_url = _signed(server, project, path, "read")
        assert read_url.startswith(s3.endpoint + f"/{s3.bucket}/team-files/{project}/")
        answer = httpx.get(read_url)
        assert answer.status_code == 200 and answer.content.startswith(b"despina oracle file")
    keys = {
        item["Key"]
        for item in s3.client().list_objects_v2(Bucket=s3.bucket)["Contents"]  # type: ignore[attr-defined]
    }
    assert {f"team-files/team/official/{official_file}", f"team-files/team/ours/{our_file}"} <= keys
    # The bytes went straight to the bucket: neither process saw a PUT of file bytes
    for server in (first, second):
        assert "PUT /storage/" not in server.log_path.read_text()
    write_url = _signed(first, "team/ours", "later/upload.bin", "write")
    assert write_url.startswith(s3.endpoint) and "X-Amz-Expires=" in write_url
