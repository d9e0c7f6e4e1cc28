"""Issue 22 item 11 with the official neptune-query: a signed download URL whose query was
altered (its expiry changed, S3's own expiry added) is refused as S3 refuses it, so the
client's downloader reads it as "expired" (and asks for a new URL) instead of downloading."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from support.oracle_support import LiveServer, oracle_venv, run_script

pytestmark = [pytest.mark.oracle, pytest.mark.slow]

PROJECT = "oracle-ws/tampered"
DESTINATION = "run-t/files/value.txt"
SCRIPT = """
import json, pathlib, sys
from neptune_query.internal.retrieval.files import SignedFile, download_file

urls = json.loads(pathlib.Path("urls.json").read_text())
out = {}
for name, url in urls.items():
    signed = SignedFile(url=url, path="run-t/files/value.txt", provider="aws",
                        project_identifier="oracle-ws/tampered", permission="read")
    out[name] = download_file(signed_file=signed, target_path=pathlib.Path(name)).status
print(json.dumps(out))
"""


def _signed(server: LiveServer, auth: dict[str, str], permission: str) -> str:
    spec = {"path": DESTINATION, "project_identifier": PROJECT, "permission": permission}
    answer = httpx.post(
        f"{server.url}/api/storagebridge/v1/signedUrl", json={"files": [spec]}, headers=auth
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["files"][0]["url"])


def test_neptune_query_reads_a_tampered_url_as_expired(
    live_server: LiveServer, tmp_path: Path
) -> None:
    query_python = oracle_venv("neptune-query==1.14.1")
    token = httpx.get(
        f"{live_server.url}/api/backend/v1/authorization/oauth-token",
        headers={"X-Neptune-Api-Token": live_server.token},
    ).json()["accessToken"]
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.put(_signed(live_server, auth, "write"), content=b"Text content").is_success
    url = _signed(live_server, auth, "read")
    exp = url.split("exp=")[1].split("&")[0]
    urls = {
        "intact": url,
        "expiry_moved": url.replace(f"exp={exp}", f"exp={int(time.time()) - 60}"),
        "s3_expiry_added": url + "&X-Amz-Date=20200101T000000Z&X-Amz-Expires=1",
    }
    (tmp_path / "urls.json").write_text(json.dumps(urls))
    statuses = run_script(query_python, SCRIPT, tmp_path, {})
    assert statuses == {
        "intact": "success",
        "expiry_moved": "expired",
        "s3_expiry_added": "expired",
    }
    assert (tmp_path / "intact").read_bytes() == b"Text content"
    assert not (tmp_path / "expiry_moved").exists()
