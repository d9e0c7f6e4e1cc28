"""API keys, their grants, the server secret and refresh tokens, kept hashed in the database.

An API token (what a user puts in ``NEPTUNE_API_TOKEN``) is base64 of JSON holding the server URL
and an API key (the format: ``neptune_scale.token``). Only ``sha256(api_key)`` is stored: keys are
256-bit random values, so a fast hash is enough (there is nothing to brute-force) and lookups
stay a single indexed read.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from neptune_scale.token import InvalidApiTokenError, encode_api_token, parse_api_token

from despina.auth._db import ServerDatabase

__all__ = [
    "ApiKeyInfo",
    "Grant",
    "InvalidApiToken",
    "KeyRing",
    "decode_api_token",
    "encode_api_token",
]

API_KEY_PREFIX = "dsp1"
KEY_ID_BYTES = 6
KEY_SECRET_BYTES = 32
REFRESH_TOKEN_BYTES = 32
REFRESH_TOKEN_TTL_S = 30 * 24 * 3600.0
SIGNING_SECRET_BYTES = 48
SIGNING_SECRET_NAME = "signing-key"


InvalidApiToken = InvalidApiTokenError  # the server's name for it, kept for its importers


def decode_api_token(token: str) -> tuple[str, str]:
    """``(api_url, api_key)`` from an API token (format: ``neptune_scale.token``); raises
    :class:`InvalidApiToken`, also for a token without the key the server checks."""
    parsed = parse_api_token(token)
    if parsed.api_key is None:
        raise InvalidApiToken("the API token has no 'api_key' field")
    return parsed.api_url, parsed.api_key


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Grant:
    """What one API key may reach: a workspace, or one project in it."""

    key_id: str
    workspace: str
    project: str | None = None  # None: every project of the workspace
    can_create_projects: bool = True

    def allows(self, project_identifier: str) -> bool:
        """Whether ``workspace/project`` is within this grant."""
        workspace, sep, project = project_identifier.partition("/")
        if not sep or workspace != self.workspace:
            return False
        return self.project is None or project == self.project

    @property
    def scope(self) -> str:
        return f"{self.workspace}/{self.project}" if self.project else f"{self.workspace}/*"


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """A stored key as ``despina token ls`` shows it (never the secret)."""

    grant: Grant
    label: str
    created_at: float
    revoked: bool


class KeyRing:
    """Creates and checks API keys, refresh tokens and the JWT signing secret."""

    def __init__(self, db: ServerDatabase) -> None:
        self._db = db

    def signing_secret(self) -> str:
        """The server-wide HMAC secret, created on first use and shared by every process."""
        with self._db.transaction() as tx:
            tx.execute(
                "INSERT INTO despina_srv_secret (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (SIGNING_SECRET_NAME, secrets.token_urlsafe(SIGNING_SECRET_BYTES)),
            )
            rows = tx.fetchall(
                "SELECT value FROM despina_srv_secret WHERE name = ?", (SIGNING_SECRET_NAME,)
            )
        return str(rows[0][0])

    def create_key(
        self,
        workspace: str,
        project: str | None = None,
        *,
        label: str = "",
        can_create_projects: bool = True,
    ) -> tuple[str, Grant]:
        """A new API key (returned once, stored hashed) and its grant."""
        _check_name("workspace", workspace)
        if project is not None:
            _check_name("project", project)
        key_id = secrets.token_hex(KEY_ID_BYTES)
        api_key = f"{API_KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(KEY_SECRET_BYTES)}"
        with self._db.transaction() as tx:
            tx.execute(
                "INSERT INTO despina_srv_api_keys (key_hash, key_id, label, workspace, project, "
                "can_create_projects, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    _sha256(api_key),
                    key_id,
                    label,
                    workspace,
                    project,
                    int(can_create_projects),
                    time.time(),
                ),
            )
        return api_key, Grant(key_id, workspace, project, can_create_projects)

    def verify_key(self, api_key: str) -> Grant | None:
        """The grant of a live key, or None for an unknown or revoked one."""
        rows = self._db.query(
            "SELECT key_id, workspace, project, can_create_projects FROM despina_srv_api_keys "
            "WHERE key_hash = ? AND revoked_at IS NULL",
            (_sha256(api_key),),
        )
        return _grant(rows[0]) if rows else None

    def grant_of(self, key_id: str) -> Grant | None:
        """The grant of a live key by its public id."""
        rows = self._db.query(
            "SELECT key_id, workspace, project, can_create_projects FROM despina_srv_api_keys "
            "WHERE key_id = ? AND revoked_at IS NULL",
            (key_id,),
        )
        return _grant(rows[0]) if rows else None

    def list_keys(self) -> list[ApiKeyInfo]:
        rows = self._db.query(
            "SELECT key_id, workspace, project, can_create_projects, label, created_at, "
            "revoked_at FROM despina_srv_api_keys ORDER BY created_at"
        )
        return [ApiKeyInfo(_grant(r[:4]), str(r[4]), float(r[5]), r[6] is not None) for r in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key and its refresh tokens; False if no live key has that id."""
        with self._db.transaction() as tx:
            changed = tx.execute(
                "UPDATE despina_srv_api_keys SET revoked_at = ? "
                "WHERE key_id = ? AND revoked_at IS NULL",
                (time.time(), key_id),
            )
            tx.execute("DELETE FROM despina_srv_refresh_tokens WHERE key_id = ?", (key_id,))
        return changed > 0

    def issue_refresh_token(self, grant: Grant) -> str:
        token = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
        now = time.time()
        with self._db.transaction() as tx:
            # Expired tokens are swept here so the table cannot grow without bound.
            tx.execute("DELETE FROM despina_srv_refresh_tokens WHERE expires_at < ?", (now,))
            tx.execute(
                "INSERT INTO despina_srv_refresh_tokens (token_hash, key_id, expires_at) "
                "VALUES (?, ?, ?)",
                (_sha256(token), grant.key_id, now + REFRESH_TOKEN_TTL_S),
            )
        return token

    def redeem_refresh_token(self, token: str) -> Grant | None:
        """The grant behind a live refresh token; the token is used up (rotation)."""
        with self._db.transaction() as tx:
            rows = tx.fetchall(
                "SELECT key_id FROM despina_srv_refresh_tokens "
                "WHERE token_hash = ? AND expires_at >= ?",
                (_sha256(token), time.time()),
            )
            tx.execute(
                "DELETE FROM despina_srv_refresh_tokens WHERE token_hash = ?", (_sha256(token),)
            )
        return self.grant_of(str(rows[0][0])) if rows else None


def _grant(row: tuple[object, ...]) -> Grant:
    key_id, workspace, project, can_create = row
    return Grant(
        str(key_id), str(workspace), None if project is None else str(project), bool(can_create)
    )


MAX_NAME_LENGTH = 128


def _check_name(field: str, value: str) -> None:
    if not value or "/" in value or len(value) > MAX_NAME_LENGTH or value != value.strip():
        raise ValueError(
            f"{field} {value!r} must be 1..{MAX_NAME_LENGTH} characters, without '/' or "
            "surrounding spaces"
        )
