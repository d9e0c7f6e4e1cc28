"""The UI's expiring cache: values expire after their time, the least recently used go first."""

from __future__ import annotations

from despina.ui._cache import ExpiringCache


def test_values_are_reused_until_they_expire() -> None:
    now = [100.0]  # the cache's clock: time passes only when the test says so
    cache: ExpiringCache[int] = ExpiringCache(ttl_s=0.2, max_entries=10, clock=lambda: now[0])
    calls: list[str] = []

    def compute(key: str) -> int:
        calls.append(key)
        return len(calls)

    assert cache.get_or_compute("a", lambda: compute("a")) == 1
    now[0] += 0.19
    assert cache.get_or_compute("a", lambda: compute("a")) == 1
    now[0] += 0.02
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
