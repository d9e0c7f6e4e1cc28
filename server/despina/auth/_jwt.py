"""Access tokens: HS256 JWTs signed with the server secret, carrying the key's grant.

Both official clients decode the JWT without checking the signature and need ``exp``;
neptune-query also needs ``azp`` (its OAuth client id) and ``iss`` (it refreshes at
``{iss}/protocol/openid-connect/token``). The grant travels in the token so that an
authenticated request needs no database read; what stops a revoked key's tokens before they
expire (``ACCESS_TOKEN_TTL_S``) is :class:`despina.auth.LiveKeys`, which the API consults on
every Bearer request and which re-reads each key at least every 30 s by default. Refresh and
exchange check the key themselves.
"""

from __future__ import annotations

import time

import jwt

from despina.auth._keys import Grant

__all__ = ["ACCESS_TOKEN_TTL_S", "InvalidAccessToken", "issue_access_token", "verify_access_token"]

ACCESS_TOKEN_TTL_S = 3600
JWT_ALGORITHM = "HS256"
TOKEN_TYPE = "despina-access"


class InvalidAccessToken(ValueError):
    """The Bearer token is not one this server signed, or it has expired."""


def issue_access_token(secret: str, grant: Grant, *, issuer: str, client_id: str) -> str:
    now = int(time.time())
    claims = {
        "sub": grant.key_id,
        "typ": TOKEN_TYPE,
        "ws": grant.workspace,
        "prj": grant.project,
        "cpr": grant.can_create_projects,
        "iat": now,
        "exp": now + ACCESS_TOKEN_TTL_S,
        "iss": issuer,
        "azp": client_id,
    }
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def verify_access_token(secret: str, token: str) -> Grant:
    """The grant inside a valid token; raises :class:`InvalidAccessToken`."""
    try:
        # The issuer is not pinned: the same server is reached as 127.0.0.1, localhost or
        # through a proxy, and the signature already proves the token is ours.
        claims = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["exp", "sub", "typ"], "verify_aud": False},
        )
    except jwt.PyJWTError as exc:
        raise InvalidAccessToken(f"invalid access token: {exc}") from exc
    if claims.get("typ") != TOKEN_TYPE or not isinstance(claims.get("ws"), str):
        raise InvalidAccessToken("invalid access token: not a Despina access token")
    project = claims.get("prj")
    return Grant(
        key_id=str(claims["sub"]),
        workspace=claims["ws"],
        project=project if isinstance(project, str) else None,
        can_create_projects=bool(claims.get("cpr")),
    )
