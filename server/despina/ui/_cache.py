"""A small thread-safe cache whose entries expire, for reads the UI repeats within seconds.

Paging, sorting and filtering the runs table re-read the same table; reopening a chart re-reads
the same buckets. Entries live ``ttl_s`` seconds, so what the UI shows is at most that old
(charts then catch up through their live updates, which are never cached).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["ExpiringCache"]

V = TypeVar("V")


class ExpiringCache(Generic[V]):
    """At most ``max_entries`` values, each kept ``ttl_s`` seconds; least recently used go first.
    ``clock`` (seconds, monotonic) is for tests."""

    def __init__(
        self, ttl_s: float, max_entries: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The cached value, or ``compute()`` stored under ``key`` (computed outside the lock)."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                self._entries.move_to_end(key)
                return entry[1]
        value = compute()
        with self._lock:
            self._entries[key] = (self._clock() + self._ttl_s, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
