"""API keys, grants, refresh tokens and access tokens against a real database."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest
from despina.auth import (
    Grant,
    InvalidAccessToken,
    InvalidApiToken,
    KeyRing,
    ServerDatabase,
    decode_api_token,
    encode_api_token,
    issue_access_token,
    verify_access_token,
)


def test_token_is_neptune_format_and_round_trips() -> None:
    token = encode_api_token("http://127.0.0.1:8899", "secret-key")
    payload = json.loads(base64.b64decode(token))
    assert payload == {
        "api_address": "http://127.0.0.1:8899",
        "api_url": "http://127.0.0.1:8899",
        "api_key": "secret-key",
    }
    assert decode_api_token(token) == ("http://127.0.0.1:8899", "secret-key")


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("not base64!", "not base64"),
        (base64.b64encode(b"[1]").decode(), "JSON list, not an object"),
        (base64.b64encode(b'{"api_url": "http://h"}').decode(), "no 'api_key'"),
        (base64.b64encode(b'{"api_key": "k"}').decode(), "no 'api_url'"),
    ],
)
def test_bad_tokens_say_why(token: str, reason: str) -> None:
    with pytest.raises(InvalidApiToken, match=reason):
        decode_api_token(token)


def test_keys_are_stored_hashed_and_checked(server_db: ServerDatabase) -> None:
    ring = KeyRing(server_db)
    api_key, grant = ring.create_key("team", label="ci")
    assert grant == Grant(grant.key_id, "team", None, True)
    assert ring.verify_key(api_key) == grant
    assert ring.verify_key(api_key + "x") is None
    stored = server_db.query("SELECT key_hash, key_id, label FROM despina_srv_api_keys")
    assert len(stored) == 1
    assert api_key not in repr(stored)  # only the hash is kept
    assert [info.label for info in ring.list_keys()] == ["ci"]


def test_grants_reach_only_their_scope(server_db: ServerDatabase) -> None:
    ring = KeyRing(server_db)
    _, workspace = ring.create_key("a")
    _, project = ring.create_key("a", "p1", can_create_projects=False)
    assert workspace.allows("a/p1") and workspace.allows("a/other")
    for outside in ("b/p1", "a", "ab/p"):
        assert not workspace.allows(outside)
    assert project.allows("a/p1") and not project.allows("a/p2")
    assert not project.can_create_projects


def test_revoked_key_and_its_refresh_tokens_stop_working(server_db: ServerDatabase) -> None:
    ring = KeyRing(server_db)
    api_key, grant = ring.create_key("team")
    refresh = ring.issue_refresh_token(grant)
    assert ring.revoke(grant.key_id)
    assert not ring.revoke(grant.key_id)
    assert ring.verify_key(api_key) is None
    assert ring.redeem_refresh_token(refresh) is None
    assert ring.list_keys()[0].revoked


def test_refresh_tokens_rotate(server_db: ServerDatabase) -> None:
    ring = KeyRing(server_db)
    _, grant = ring.create_key("team", "proj")
    token = ring.issue_refresh_token(grant)
    assert ring.redeem_refresh_token(token) == grant
    assert ring.redeem_refresh_token(token) is None  # used up


def test_signing_secret_is_shared_by_every_process(server_db: ServerDatabase) -> None:
    first = KeyRing(server_db).signing_secret()
    other = ServerDatabase(server_db.location)
    try:
        assert KeyRing(other).signing_secret() == first
    finally:
        other.close()


@pytest.mark.parametrize("bad", ["", "team/x", " team", "x" * 129])
def test_key_names_are_checked(server_db: ServerDatabase, bad: str) -> None:
    with pytest.raises(ValueError, match="workspace"):
        KeyRing(server_db).create_key(bad)


SECRET = "s" * 48


def test_access_tokens_carry_the_grant_and_what_clients_need() -> None:
    grant = Grant("k1", "team", "proj", False)
    token = issue_access_token(SECRET, grant, issuer="http://h/auth/realms/r", client_id="cli")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["azp"] == "cli" and claims["iss"] == "http://h/auth/realms/r"
    assert claims["exp"] > time.time() + 600
    assert verify_access_token(SECRET, token) == grant
    with pytest.raises(InvalidAccessToken):
        verify_access_token(SECRET + "x", token)
    forged = jwt.encode({**claims, "ws": "other"}, "g" * 40, algorithm="HS256")
    with pytest.raises(InvalidAccessToken):
        verify_access_token(SECRET, forged)
    expired = jwt.encode({**claims, "exp": int(time.time()) - 1}, SECRET, algorithm="HS256")
    with pytest.raises(InvalidAccessToken, match="expired"):
        verify_access_token(SECRET, expired)


def test_server_tables_sit_beside_the_store_the_store_would_open(tmp_path: Path) -> None:
    from despina.auth import server_database_url
    from despina.store import open_store

    folder = tmp_path / "s"
    with open_store(f"sqlite://{folder}"):  # sqlite:///abs/path, as the store reads it
        pass
    expected = f"sqlite://{folder / 'server.sqlite3'}"
    assert server_database_url(f"sqlite://{folder}") == expected
    assert server_database_url(str(folder)) == expected
    assert server_database_url(str(folder / "despina.sqlite3")) == expected
    assert server_database_url("postgresql://h/db") == "postgresql://h/db"


def test_many_processes_can_create_the_tables_at_once(server_db: ServerDatabase) -> None:
    """Server processes starting together on a fresh database each run the schema."""
    from concurrent.futures import ThreadPoolExecutor

    with server_db.transaction() as tx:  # back to a database without our tables
        for table in ("secret", "api_keys", "refresh_tokens", "request_status"):
            tx.execute(f"DROP TABLE despina_srv_{table}")
    server_db.close()

    def open_one(_: int) -> str:
        other = ServerDatabase(server_db.location)
        try:
            return KeyRing(other).signing_secret()
        finally:
            other.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        secrets_seen = set(pool.map(open_one, range(12)))
    assert len(secrets_seen) == 1  # and one secret for all of them


def test_request_threads_share_a_bounded_pool(server_db: ServerDatabase) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from despina.auth._db import POOL_SIZE

    ring = KeyRing(server_db)
    _, grant = ring.create_key("team")

    def work(_: int) -> bool:
        token = ring.issue_refresh_token(grant)
        return ring.redeem_refresh_token(token) == grant

    with ThreadPoolExecutor(max_workers=4 * POOL_SIZE) as pool:
        assert all(pool.map(work, range(200)))
    assert 1 <= len(server_db._idle) <= POOL_SIZE  # never more connections than the pool allows
