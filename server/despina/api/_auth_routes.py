"""Authentication endpoints (protocol §1, checklist A1–A4).

A1 client config → A2 OpenID discovery → A3 API-key exchange for a JWT → A4 refresh.
The refresh endpoint sits where a Keycloak realm would (``{iss}/protocol/openid-connect/token``)
because neptune-query derives it from the JWT's ``iss`` while neptune-scale reads it from
discovery; both then reach the same handler.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from despina.api._context import context_of, public_url, read_body, reject
from despina.auth import (
    ACCESS_TOKEN_TTL_S,
    Grant,
    InvalidApiToken,
    decode_api_token,
    issue_access_token,
)

__all__ = ["router"]

router = APIRouter()

API_TOKEN_HEADER = "x-neptune-api-token"
MAX_FORM_BYTES = 16 * 1024


def _realm_url(request: Request) -> str:
    return f"{public_url(request)}/auth/realms/{context_of(request).settings.realm}"


@router.get("/api/backend/v1/clients/config")
def client_config(request: Request) -> dict[str, Any]:
    base = public_url(request)
    return {
        "apiUrl": base,
        "applicationUrl": base,
        "pyLibVersions": {},
        "security": {
            "clientId": context_of(request).settings.client_id,
            "openIdDiscovery": f"{_realm_url(request)}/.well-known/openid-configuration",
        },
    }


@router.get("/auth/realms/{realm}/.well-known/openid-configuration")
def openid_configuration(realm: str, request: Request) -> dict[str, Any]:
    if realm != context_of(request).settings.realm:
        reject(404, f"unknown realm {realm!r}")
    issuer = _realm_url(request)
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/protocol/openid-connect/auth",
        "token_endpoint": f"{issuer}/protocol/openid-connect/token",
        "grant_types_supported": ["refresh_token"],
    }


def _access_token(request: Request, grant: Grant) -> str:
    ctx = context_of(request)
    return issue_access_token(
        ctx.secret, grant, issuer=_realm_url(request), client_id=ctx.settings.client_id
    )


@router.get("/api/backend/v1/authorization/oauth-token")
def exchange_api_token(request: Request) -> dict[str, str]:
    """A3: API token (whole base64 string in ``X-Neptune-Api-Token``) → JWT + refresh token."""
    token = request.headers.get(API_TOKEN_HEADER)
    if not token:
        reject(401, "missing X-Neptune-Api-Token header")
    try:
        _, api_key = decode_api_token(token)
    except InvalidApiToken as exc:
        reject(401, str(exc))
    ctx = context_of(request)
    grant = ctx.keys.verify_key(api_key)
    if grant is None:
        reject(401, "the API token is not valid on this server (unknown or revoked key)")
    ctx.live_keys.remember(grant.key_id, grant)  # just read: the first Bearer call needs no read
    return {
        "accessToken": _access_token(request, grant),
        "refreshToken": ctx.keys.issue_refresh_token(grant),
        "username": f"key-{grant.key_id}",
    }


def _oauth_error(error: str, description: str) -> JSONResponse:
    # RFC 6749 §5.2 error shape; both clients fall back to the API-key exchange on any failure.
    body = {"error": error, "error_description": description, "detail": description}
    return JSONResponse(status_code=400, content=body)


@router.post("/auth/realms/{realm}/protocol/openid-connect/token", response_model=None)
async def refresh(realm: str, request: Request) -> dict[str, Any] | JSONResponse:
    """A4: ``grant_type=refresh_token`` form → new access and (rotated) refresh token."""
    if realm != context_of(request).settings.realm:
        reject(404, f"unknown realm {realm!r}")
    body = await read_body(request, MAX_FORM_BYTES)
    try:
        form = parse_qs(body.decode(), strict_parsing=False)
    except UnicodeDecodeError:
        return _oauth_error("invalid_request", "the form body is not UTF-8")
    if form.get("grant_type") != ["refresh_token"]:
        return _oauth_error("unsupported_grant_type", "only grant_type=refresh_token is supported")
    tokens = form.get("refresh_token") or [""]
    ctx = context_of(request)
    # A revoked key's refresh tokens were deleted with it, and redeeming re-reads the key.
    grant = await run_in_threadpool(ctx.keys.redeem_refresh_token, tokens[0])
    if grant is None:
        return _oauth_error(
            "invalid_grant", "the refresh token is unknown, used or expired, or its key revoked"
        )
    ctx.live_keys.remember(grant.key_id, grant)
    return {
        "access_token": _access_token(request, grant),
        "refresh_token": await run_in_threadpool(ctx.keys.issue_refresh_token, grant),
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_TTL_S,
    }
