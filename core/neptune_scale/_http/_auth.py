"""Access tokens for one server: config → OpenID discovery → API-key exchange → refresh.

Every call gets a ``deadline`` (monotonic seconds) so that fetching a token counts against the
time budget of the request that needed it. Failures are raised as the client's exceptions;
the transport turns them into :class:`~neptune_scale.transport.Failed` results.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from neptune_scale._http._errors import raise_for
from neptune_scale._http._token import jwt_expiry
from neptune_scale.exceptions import (
    NeptuneConnectionLostError,
    NeptuneInvalidCredentialsError,
    NeptuneUnexpectedResponseError,
)
from neptune_scale.token import ApiToken

__all__ = ["Authenticator", "remaining"]

CONFIG_PATH = "/api/backend/v1/clients/config"
EXCHANGE_PATH = "/api/backend/v1/authorization/oauth-token"
# Refresh this long before expiry, like the official clients (and never use a token that could
# expire in flight).
EXPIRY_MARGIN_S = 30.0


def remaining(deadline: float) -> float:
    """Seconds left until ``deadline``; raises NeptuneConnectionLostError when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise NeptuneConnectionLostError("the request's time budget ran out")
    return left


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise NeptuneUnexpectedResponseError(f"{what}: the answer is not JSON") from exc
    if not isinstance(data, dict):
        raise NeptuneUnexpectedResponseError(f"{what}: the answer is not a JSON object")
    return data


class Authenticator:
    """Holds the current access token; thread-safe; does network calls only when needed."""

    def __init__(self, client: httpx.Client, token: ApiToken) -> None:
        self._client = client
        self._token = token
        self._lock = threading.Lock()
        self._token_endpoint: str | None = None
        self._client_id = ""
        self._access: str | None = None
        self._refresh: str | None = None
        self._expires_at = 0.0

    def bearer(self, deadline: float) -> str:
        """A valid access token, fetched or refreshed within ``deadline``."""
        with self._lock:
            if self._access is None or time.time() >= self._expires_at - EXPIRY_MARGIN_S:
                self._renew(deadline)
            assert self._access is not None
            return self._access

    def invalidate(self) -> None:
        """Forget the access token (the server rejected it); the next call gets a new one."""
        with self._lock:
            self._access = None

    def _renew(self, deadline: float) -> None:
        if self._refresh is not None and self._try_refresh(deadline):
            return
        self._exchange(deadline)

    def _get(
        self, url: str, deadline: float, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        try:
            return self._client.get(url, headers=headers, timeout=remaining(deadline))
        except httpx.HTTPError as exc:
            raise NeptuneConnectionLostError(f"cannot reach the server: {exc}") from exc

    def _discover(self, deadline: float) -> str:
        if self._token_endpoint is None:
            response = self._get(CONFIG_PATH, deadline)
            if response.status_code != 200:
                raise NeptuneUnexpectedResponseError(f"client config: HTTP {response.status_code}")
            security = _json(response, "client config").get("security") or {}
            discovery = security.get("openIdDiscovery")
            if not isinstance(discovery, str):
                raise NeptuneUnexpectedResponseError("client config lacks security.openIdDiscovery")
            response = self._get(discovery, deadline)
            if not response.is_success:
                raise NeptuneUnexpectedResponseError(f"discovery: HTTP {response.status_code}")
            endpoint = _json(response, "OpenID discovery").get("token_endpoint")
            if not isinstance(endpoint, str):
                raise NeptuneUnexpectedResponseError("OpenID discovery has no token_endpoint")
            self._client_id = str(security.get("clientId", ""))
            self._token_endpoint = endpoint
        return self._token_endpoint

    def _exchange(self, deadline: float) -> None:
        response = self._get(EXCHANGE_PATH, deadline, {"X-Neptune-Api-Token": self._token.raw})
        if response.status_code == 401:
            raise NeptuneInvalidCredentialsError(
                "the server rejected the API token (unknown or revoked key); create a new one "
                "with `despina token create`"
            )
        raise_for(response)  # 429/5xx keep their Retry-After for the sender
        data = _json(response, "API token exchange")
        self._store(data.get("accessToken"), data.get("refreshToken"))

    def _try_refresh(self, deadline: float) -> bool:
        try:
            endpoint = self._discover(deadline)
        except NeptuneUnexpectedResponseError:
            return False  # a server without discovery still takes the API-key exchange
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self._refresh or "",
            "client_id": self._client_id,
            "expires_in": str(self._expires_at - time.time()),
        }
        try:
            response = self._client.post(endpoint, data=form, timeout=remaining(deadline))
        except httpx.HTTPError:
            return False  # like the official clients: fall back to the API-key exchange
        if response.status_code != 200:
            return False
        data = _json(response, "token refresh")
        self._store(data.get("access_token"), data.get("refresh_token"))
        return True

    def _store(self, access: object, refresh: object) -> None:
        if not isinstance(access, str) or not isinstance(refresh, str):
            raise NeptuneUnexpectedResponseError("the token answer lacks the access/refresh token")
        try:
            self._expires_at = jwt_expiry(access)
        except ValueError as exc:
            raise NeptuneUnexpectedResponseError(str(exc)) from exc
        self._access, self._refresh = access, refresh
