"""The UI's expiring cache: values expire after their time, the least recently used go first."""

from __future__ import annotations

import time

from despina.ui._cache import ExpiringCache


def test_values_are_reused_until_they_expire() -> None:
    cache: ExpiringCache[int] = ExpiringCache(ttl_s=0.2, max_entries=10)
    calls: list[str] = []

    def compute(key: str) -> int:
        calls.append(key)
        return len(calls)

    assert cache.get_or_compute("a", lambda: compute("a")) == 1
    assert cache.get_or_compute("a", lambda: compute("a")) == 1
    time.sleep(0.25)
    assert cache.get_or_compute("a", lambda: compute("a")) == 2
    assert calls == ["a", "a"]


def test_least_recently_used_entries_go_first() -> None:
    cache: ExpiringCache[str] = ExpiringCache(ttl_s=60, max_entries=2)
    cache.get_or_compute("a", lambda: "A")
    cache.get_or_compute("b", lambda: "B")
    cache.get_or_compute("a", lambda: "never")  # "a" is now the most recent
    cache.get_or_compute("c", lambda: "C")  # evicts "b"
    assert cache.get_or_compute("a", lambda: "new") == "A"
    assert cache.get_or_compute("b", lambda: "B2") == "B2"
