"""Neptune-format API tokens and the expiry of JWT access tokens, read without extra libraries."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from neptune_scale.exceptions import NeptuneInvalidCredentialsError

__all__ = ["ApiToken", "decode_api_token", "jwt_expiry"]


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A decoded API token: the server's base URL and the whole token string to present."""

    api_url: str
    raw: str


def decode_api_token(token: str) -> ApiToken:
    """Decode base64 JSON with ``api_url`` (or ``api_address``).

    Raises NeptuneInvalidCredentialsError for anything else.
    """
    raw = token.strip()
    try:
        data = json.loads(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise NeptuneInvalidCredentialsError(
            "the API token is not base64-encoded JSON (copy it again from `despina token create`)"
        ) from exc
    url = data.get("api_url") or data.get("api_address") if isinstance(data, dict) else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise NeptuneInvalidCredentialsError(
            "the API token has no 'api_url' (or 'api_address') with an http(s) server address"
        )
    return ApiToken(api_url=url.rstrip("/"), raw=raw)


def jwt_expiry(access_token: str) -> float:
    """The ``exp`` claim (epoch seconds) of a JWT; the signature is the server's business."""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise ValueError("the server's access token is not a JWT with an 'exp' claim") from exc
