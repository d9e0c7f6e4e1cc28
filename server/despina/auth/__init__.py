"""Who may write and read what on a Despina server.

API tokens in Neptune's format (base64 JSON with ``api_url`` and ``api_key``), keys stored
hashed with their grant (a workspace, or one project in it), JWT access tokens, rotating
refresh tokens, the database that keeps all of it so that server processes hold no state, and
the per-process memo that re-reads keys often enough for a revocation to take effect quickly.
"""

from __future__ import annotations

from despina.auth._db import ServerDatabase, server_database_url
from despina.auth._jwt import (
    ACCESS_TOKEN_TTL_S,
    InvalidAccessToken,
    issue_access_token,
    verify_access_token,
)
from despina.auth._keys import (
    ApiKeyInfo,
    Grant,
    InvalidApiToken,
    KeyRing,
    decode_api_token,
    encode_api_token,
)
from despina.auth._live import KEY_RECHECK_S, KeyCheck, LiveKeys

__all__ = [
    "ACCESS_TOKEN_TTL_S",
    "KEY_RECHECK_S",
    "ApiKeyInfo",
    "Grant",
    "InvalidAccessToken",
    "InvalidApiToken",
    "KeyCheck",
    "KeyRing",
    "LiveKeys",
    "ServerDatabase",
    "decode_api_token",
    "encode_api_token",
    "issue_access_token",
    "server_database_url",
    "verify_access_token",
]
