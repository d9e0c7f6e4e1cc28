"""Login with an API token for the UI that ``despina server`` serves: sign-in and session cookies.

A visitor pastes the same Neptune-format API token the client uses; it is checked exactly as the
API's token exchange checks it (decode, then the key must be live in the server tables). The
session is a cookie holding an HS256 JWT with the key's grant, signed with a key derived from the
server's signing secret (so no new secret is stored, and a session can never pass for an API
access token or the other way round). The cookie lives ``session_ttl_s``; every process re-reads
its key at least every ``recheck_s`` (through ``despina.auth.LiveKeys``, the memo the API's
Bearer check uses too), so a revoked token's sessions end within that period.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import jwt

from despina.auth import Grant, InvalidApiToken, KeyRing, LiveKeys, decode_api_token

__all__ = ["SESSION_COOKIE", "SESSION_RECHECK_S", "SESSION_TTL_S", "TokenLogin"]

SESSION_COOKIE = "despina_session"
SESSION_TTL_S = 12 * 3600.0
SESSION_RECHECK_S = 60.0
SESSION_TYPE = "despina-ui-session"
JWT_ALGORITHM = "HS256"
# The session key is HMAC(signing secret, purpose): same key material, separate use.
SESSION_KEY_PURPOSE = b"despina web UI session cookie v1"


class TokenLogin:
    """The UI's login mode for a server: sessions from API tokens, limited to their grants.

    ``keys`` is the server's `despina.auth.KeyRing`, or a function returning it (a server opens
    its tables at startup, after its routes were made). ``public_url``: the base URL clients
    use, as the API honours it; a session cookie is ``Secure`` when that (else the request's own
    URL) is https.
    """

    def __init__(
        self,
        keys: KeyRing | Callable[[], KeyRing],
        *,
        public_url: str | None = None,
        session_ttl_s: float = SESSION_TTL_S,
        recheck_s: float = SESSION_RECHECK_S,
    ) -> None:
        if not session_ttl_s > 0:
            raise ValueError(f"session_ttl_s must be > 0 seconds, got {session_ttl_s}")
        if not recheck_s > 0:
            raise ValueError(f"recheck_s must be > 0 seconds, got {recheck_s}")
        self.public_url = public_url
        self.session_ttl_s = session_ttl_s
        self.recheck_s = recheck_s
        self._session_key: bytes | None = None
        # The grant is read from the server tables (not trusted from the cookie) at most every
        # recheck_s per process: revocation shows within that time on every process.
        self._live = LiveKeys(keys, recheck_s)

    @property
    def keys(self) -> KeyRing:
        return self._live.keys

    def _key(self) -> bytes:
        if self._session_key is None:
            secret = self.keys.signing_secret()
            self._session_key = hmac.new(
                secret.encode(), SESSION_KEY_PURPOSE, hashlib.sha256
            ).digest()
        return self._session_key

    def sign_in(self, api_token: str) -> Grant | None:
        """The grant of a live API token, else None (malformed, unknown, revoked: not said)."""
        try:
            _, api_key = decode_api_token(api_token)
        except InvalidApiToken:
            return None
        grant = self.keys.verify_key(api_key)
        if grant is not None:
            self._live.remember(grant.key_id, grant)
        return grant

    def session_for(self, grant: Grant) -> str:
        """A signed session cookie value for ``grant``, valid ``session_ttl_s`` from now."""
        now = int(time.time())
        claims = {
            "typ": SESSION_TYPE,
            "sub": grant.key_id,
            "ws": grant.workspace,
            "prj": grant.project,
            "iat": now,
            "exp": now + int(self.session_ttl_s),
        }
        return jwt.encode(claims, self._key(), algorithm=JWT_ALGORITHM)

    def grant_of_session(self, cookie: str) -> Grant | None:
        """The grant of a valid, unexpired session whose key is still live; else None."""
        try:
            claims: dict[str, Any] = jwt.decode(
                cookie,
                self._key(),
                algorithms=[JWT_ALGORITHM],
                options={"require": ["exp", "sub", "typ"]},
            )
        except jwt.PyJWTError:
            return None
        if claims.get("typ") != SESSION_TYPE:
            return None
        return self._live.grant_of(str(claims["sub"]))

    def is_https(self, request_base_url: str) -> bool:
        """Whether cookies must be ``Secure``: the public URL, else the request's, is https."""
        return (self.public_url or request_base_url).lower().startswith("https://")
