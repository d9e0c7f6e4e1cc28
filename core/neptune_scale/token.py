"""The Neptune API token format, read and written in one place (protocol §1.1).

Public: the client, the server (``despina.auth``) and the integrations import it;
``__all__`` is the contract.

A token is standard base64 (RFC 4648 §4, ``+/`` and ``=`` padding, nothing else inside) of a
JSON object with:

* ``api_url``: the server's base URL, ``http://`` or ``https://`` (a trailing ``/`` is
  dropped). Older tokens carry it as ``api_address`` only; that is read when ``api_url`` is
  missing or empty, as the official client does. Tokens we write carry both.
* ``api_key``: the secret the server checks. The client only presents the whole token, so it
  does not need the key; the server does (:attr:`ApiToken.api_key` is None when absent).

Whitespace around the token is ignored (tokens are pasted with a newline); anything else that
does not follow these rules is refused with :class:`InvalidApiTokenError` saying which rule. The
rules used to differ by reader (the client's link builder and the Flyte plugin accepted base64
with stray characters and any URL); one reader now answers the same for all of them.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from neptune_scale.exceptions import NeptuneInvalidCredentialsError

__all__ = ["ApiToken", "InvalidApiTokenError", "api_url_of", "encode_api_token", "parse_api_token"]

_URL_SCHEMES = ("http://", "https://")


class InvalidApiTokenError(NeptuneInvalidCredentialsError, ValueError):
    """The token does not follow the format above; the message says which rule it breaks.

    A :class:`~neptune_scale.exceptions.NeptuneInvalidCredentialsError` for the client's callers
    and a ValueError for everyone else.
    """


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A parsed token: the server's base URL, its API key (if any) and the token to present."""

    api_url: str
    api_key: str | None
    raw: str


def parse_api_token(token: str) -> ApiToken:
    """Parse ``token``; raises :class:`InvalidApiTokenError` naming the broken rule."""
    if not isinstance(token, str):
        raise InvalidApiTokenError(f"the API token must be a str, got {type(token).__name__}")
    raw = token.strip()
    try:
        data = json.loads(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is one
        raise InvalidApiTokenError(
            "the API token is not base64-encoded JSON (copy it again from `despina token create`)"
        ) from exc
    if not isinstance(data, dict):
        raise InvalidApiTokenError(
            f"the API token holds a JSON {type(data).__name__}, not an object with 'api_url'"
        )
    url = data.get("api_url") or data.get("api_address")
    if not isinstance(url, str) or not url.startswith(_URL_SCHEMES):
        raise InvalidApiTokenError(
            "the API token has no 'api_url' (or 'api_address') with an http(s) server address"
        )
    key = data.get("api_key")
    if key is not None and not isinstance(key, str):
        raise InvalidApiTokenError(f"the API token's 'api_key' must be a str, got {key!r}")
    return ApiToken(api_url=url.rstrip("/"), api_key=key, raw=raw)


def api_url_of(token: str | None) -> str | None:
    """The server base URL of a valid token, None for no token or an invalid one (for links
    and hints, where a bad token is reported elsewhere)."""
    if not token:
        return None
    try:
        return parse_api_token(token).api_url
    except InvalidApiTokenError:
        return None


def encode_api_token(api_url: str, api_key: str) -> str:
    """A token :func:`parse_api_token` reads back, with ``api_address`` repeating ``api_url``
    for old clients that only read that."""
    if not api_url.startswith(_URL_SCHEMES):
        raise ValueError(f"api_url must start with http:// or https://, got {api_url!r}")
    payload = {"api_address": api_url, "api_url": api_url, "api_key": api_key}
    return base64.b64encode(json.dumps(payload).encode()).decode()
