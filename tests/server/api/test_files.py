"""Files through the server's own signed URLs (protocol §4): PUT with ETag, GET back."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from despina.api import ServerContext
from despina.api._files_routes import sign
from fastapi.testclient import TestClient

PROJECT = "team/proj"
DESTINATION = "run-a-0123/files_blob-4567/none/data.bin"


def signed(
    client: TestClient, auth: dict[str, str], permission: str, path: str = DESTINATION
) -> str:
    spec = {"path": path, "project_identifier": PROJECT, "permission": permission, "size": 3}
    answer = client.post("/api/storagebridge/v1/signedUrl", json={"files": [spec]}, headers=auth)
    assert answer.status_code == 200, answer.text
    (entry,) = answer.json()["files"]
    assert entry["path"] == path and entry["provider"] == "aws" and entry["multipart"] is None
    url = urlsplit(entry["url"])
    return f"{url.path}?{url.query}"


def test_upload_answers_an_etag_and_the_file_reads_back(
    client: TestClient, team_auth: dict[str, str]
) -> None:
    payload = bytes(range(256)) * 4096
    put = client.put(
        signed(client, team_auth, "write"),
        content=payload,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert put.status_code == 200
    assert put.headers["etag"].strip('"')
    got = client.get(signed(client, team_auth, "read"))
    assert got.status_code == 200
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(payload).digest()


def test_signatures_bind_permission_path_and_time(
    client: TestClient, team_auth: dict[str, str], ctx: ServerContext
) -> None:
    write_url = signed(client, team_auth, "write")
    assert client.get(write_url).status_code == 403  # signed for writing, not reading
    # Altered URLs are refused as S3 refuses them, 400 (neptune-query: "expired", ask again)
    tampered = write_url.replace("data.bin", "other.bin")
    assert client.put(tampered, content=b"x").status_code == 400
    forged = write_url[: write_url.index("sig=")] + "sig=" + "0" * 64
    assert client.put(forged, content=b"x").status_code == 400
    past = int(time.time()) - 10
    sig = sign(ctx.secret, "w", PROJECT, DESTINATION, past)
    expired = f"/storage/{PROJECT}/{DESTINATION}?perm=w&exp={past}&sig={sig}"
    answer = client.put(expired, content=b"x")
    assert answer.status_code == 400 and "expired" in answer.json()["detail"]
    assert client.get(signed(client, team_auth, "read", "missing/file.bin")).status_code == 404


def test_signed_urls_respect_the_grant_and_path_rules(
    client: TestClient,
    make_token: Callable[..., str],
    bearer: Callable[[str], dict[str, str]],
) -> None:
    other = bearer(make_token("other"))
    spec = {"path": "a.bin", "project_identifier": PROJECT, "permission": "read"}
    answer = client.post("/api/storagebridge/v1/signedUrl", json={"files": [spec]}, headers=other)
    assert answer.status_code == 403
    team = bearer(make_token("team"))
    for path in ("../escape.bin", "/abs.bin", "a//b.bin"):
        spec = {"path": path, "project_identifier": PROJECT, "permission": "write"}
        answer = client.post(
            "/api/storagebridge/v1/signedUrl", json={"files": [spec]}, headers=team
        )
        assert answer.status_code == 400, path
    answer = client.post("/api/storagebridge/v1/signedUrl", content=b"{", headers=team)
    assert answer.status_code == 422


def test_a_download_url_with_its_expiry_altered_is_refused_with_400(
    client: TestClient, team_auth: dict[str, str]
) -> None:
    """Issue 22 item 11: tampering the expiry (or adding S3's own) must not still download."""
    put = client.put(signed(client, team_auth, "write"), content=b"abc")
    assert put.status_code == 200
    url = signed(client, team_auth, "read")
    assert client.get(url).content == b"abc"
    past = str(int(time.time()) - 60)
    exp = url.split("exp=")[1].split("&")[0]
    altered = [
        url.replace(f"exp={exp}", f"exp={past}"),
        url.replace(f"exp={exp}", f"exp={int(exp) + 3600}"),
        url + "&X-Amz-Expires=1",
        url.replace("perm=r", "perm=w"),
    ]
    for bad in altered:
        answer = client.get(bad)
        assert answer.status_code == 400, (bad, answer.text)
        assert "signedUrl again" in answer.json()["detail"]


def test_long_destinations_are_stored_and_past_1024_refused(
    client: TestClient, team_auth: dict[str, str]
) -> None:
    """Issue 22 item 12: the protocol's longest reference (one 800-byte segment) is stored, and
    so are the bytes of a longer destination (the official client uploads an 801-character one
    and expects it stored, as the service did); past 1,024 characters a clean refusal naming
    the field."""
    for path in ("a" * 800, "d/" + "é" * 400 + "/" + "b" * 397, "c" * 801, "e" * 1024):
        assert len(path) <= 1024
        put = client.put(signed(client, team_auth, "write", path), content=path.encode())
        assert put.status_code == 200, put.text
        got = client.get(signed(client, team_auth, "read", path))
        assert got.status_code == 200 and got.content == path.encode()
    spec = {"path": "a" * 1025, "project_identifier": PROJECT, "permission": "write", "size": 1}
    answer = client.post(
        "/api/storagebridge/v1/signedUrl", json={"files": [spec]}, headers=team_auth
    )
    assert answer.status_code == 422
    assert "path" in answer.json()["detail"] and "1024" in answer.json()["detail"]
