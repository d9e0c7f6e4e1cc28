"""Which API keys are still live, re-read from the server tables at most every ``recheck_s``.

Access tokens and UI session cookies carry their key's grant, so that a request can be
authorized without a database read. This memo bounds how long a revoked key keeps working
anyway: each process re-reads a key at most once per ``recheck_s`` (per key), so a revocation
shows on every process within that time, and between re-reads a request costs a dict lookup.
The API's Bearer check and the UI's session check both go through it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from despina.auth._keys import Grant, KeyRing

__all__ = ["KEY_RECHECK_S", "KeyCheck", "LiveKeys"]

KEY_RECHECK_S = 30.0  # the API's default; a leaked key stops within half a minute
MAX_REMEMBERED_KEYS = 10_000  # per memo; stale entries go first, then all of them


class KeyCheck(NamedTuple):
    """One reading of a key: when (on the memo's clock, seconds) and its grant (None: revoked)."""

    read_at: float
    grant: Grant | None


class LiveKeys:
    """The grants of live keys, each re-read from the server tables at most every ``recheck_s``.

    ``keys`` is the server's :class:`KeyRing`, or a function returning it (a server opens its
    tables at startup, after its routes were made). ``clock`` (seconds, monotonic) is for tests.
    Thread-safe. An unknown key id reads as revoked.
    """

    def __init__(
        self,
        keys: KeyRing | Callable[[], KeyRing],
        recheck_s: float = KEY_RECHECK_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_REMEMBERED_KEYS,
    ) -> None:
        if not recheck_s > 0:
            raise ValueError(f"recheck_s must be > 0 seconds, got {recheck_s}")
        if max_keys < 1:
            raise ValueError(f"max_keys must be >= 1, got {max_keys}")
        self._keys = keys
        self.recheck_s = recheck_s
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._memo: dict[str, KeyCheck] = {}

    @property
    def keys(self) -> KeyRing:
        keys = self._keys
        return keys if isinstance(keys, KeyRing) else keys()

    def fresh(self, key_id: str) -> KeyCheck | None:
        """The memo's reading of ``key_id`` if younger than ``recheck_s``; None: read it.

        Never touches the database, so an event loop may call it; on None it hands
        :meth:`grant_of` to a worker thread.
        """
        seen = self._memo.get(key_id)  # a single dict read: atomic, no lock needed
        if seen is not None and self._clock() - seen.read_at < self.recheck_s:
            return seen
        return None

    def grant_of(self, key_id: str) -> Grant | None:
        """The key's grant, None if revoked or unknown: from the memo, else read and remembered."""
        seen = self.fresh(key_id)
        if seen is not None:
            return seen.grant
        grant = self.keys.grant_of(key_id)
        self.remember(key_id, grant)
        return grant

    def remember(self, key_id: str, grant: Grant | None) -> None:
        """Record a reading just taken elsewhere (a sign-in or token exchange read the key)."""
        now = self._clock()
        with self._lock:
            if key_id not in self._memo and len(self._memo) >= self._max_keys:
                self._evict(now)
            self._memo[key_id] = KeyCheck(now, grant)

    def _evict(self, now: float) -> None:
        # Stale readings would be re-read anyway; only a flood of live keys drops fresh ones,
        # which costs one read each, never a wrong answer.
        stale = [k for k, seen in self._memo.items() if now - seen.read_at >= self.recheck_s]
        for key_id in stale:
            del self._memo[key_id]
        if len(self._memo) >= self._max_keys:
            self._memo.clear()
