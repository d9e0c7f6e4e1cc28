"""The memo that bounds how long a revoked key keeps working, over the real server tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from despina.auth import KeyRing, LiveKeys, ServerDatabase

RECHECK_S = 30.0


class Clock:
    """A monotonic clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_revocation_shows_once_the_reading_is_older_than_recheck_s(
    server_db: ServerDatabase,
) -> None:
    ring, clock = KeyRing(server_db), Clock()
    live = LiveKeys(ring, RECHECK_S, clock=clock)
    _, grant = ring.create_key("team", "proj", can_create_projects=False)
    assert live.fresh(grant.key_id) is None  # never read: the caller must read it
    assert live.grant_of(grant.key_id) == grant
    assert ring.revoke(grant.key_id)

    # Within recheck_s the memo answers: the database is not read (it says "revoked" by now).
    clock.now += RECHECK_S - 0.5
    seen = live.fresh(grant.key_id)
    assert seen is not None and seen.grant == grant
    assert live.grant_of(grant.key_id) == grant

    clock.now += 0.5
    assert live.fresh(grant.key_id) is None
    assert live.grant_of(grant.key_id) is None
    seen = live.fresh(grant.key_id)
    assert seen is not None and seen.grant is None  # the revoked reading is remembered too


def test_every_process_sees_the_revocation_within_its_own_period(
    server_db: ServerDatabase,
) -> None:
    """Two memos over one database stand for two server processes reading one set of tables."""
    ring, clock = KeyRing(server_db), Clock()
    first = LiveKeys(ring, RECHECK_S, clock=clock)
    other_db = ServerDatabase(server_db.location)
    try:
        second = LiveKeys(KeyRing(other_db), RECHECK_S, clock=clock)
        _, grant = ring.create_key("team")
        _, kept = ring.create_key("team")
        assert first.grant_of(grant.key_id) == grant
        clock.now += RECHECK_S / 2
        assert second.grant_of(grant.key_id) == grant
        ring.revoke(grant.key_id)
        clock.now += RECHECK_S / 2
        assert first.grant_of(grant.key_id) is None
        assert second.grant_of(grant.key_id) == grant  # read later: still within its period
        clock.now += RECHECK_S / 2
        assert second.grant_of(grant.key_id) is None
        assert first.grant_of(kept.key_id) == kept == second.grant_of(kept.key_id)
    finally:
        other_db.close()


def test_unknown_keys_read_as_revoked_and_remember_records_a_reading(
    server_db: ServerDatabase,
) -> None:
    ring, clock = KeyRing(server_db), Clock()
    live = LiveKeys(lambda: ring, RECHECK_S, clock=clock)  # a ring opened later, at startup
    assert live.keys is ring
    assert live.grant_of("0123456789ab") is None
    _, grant = ring.create_key("team")
    live.remember(grant.key_id, grant)  # a token exchange just read the key
    ring.revoke(grant.key_id)
    assert live.grant_of(grant.key_id) == grant
    clock.now += RECHECK_S
    assert live.grant_of(grant.key_id) is None


def test_the_memo_stays_bounded_and_keeps_answering_right(server_db: ServerDatabase) -> None:
    ring, clock = KeyRing(server_db), Clock()
    live = LiveKeys(ring, RECHECK_S, clock=clock, max_keys=2)
    grants = [ring.create_key("team")[1] for _ in range(4)]
    assert live.grant_of(grants[0].key_id) == grants[0]
    clock.now += RECHECK_S  # the first reading is stale: it goes first
    assert live.grant_of(grants[1].key_id) == grants[1]
    assert live.grant_of(grants[2].key_id) == grants[2]
    assert live.fresh(grants[0].key_id) is None
    assert live.fresh(grants[1].key_id) is not None
    # Full of fresh readings: dropped all at once, each costs one read again, never a wrong answer.
    ring.revoke(grants[1].key_id)
    assert live.grant_of(grants[3].key_id) == grants[3]
    assert live.fresh(grants[1].key_id) is None
    assert live.grant_of(grants[1].key_id) is None
    assert live.grant_of(grants[2].key_id) == grants[2]


@pytest.mark.parametrize(
    ("recheck_s", "max_keys", "field"),
    [(0.0, 1, "recheck_s"), (-1.0, 1, "recheck_s"), (1.0, 0, "max_keys")],
)
def test_bad_settings_are_refused_by_name(
    tmp_path: Path, recheck_s: float, max_keys: int, field: str
) -> None:
    ring = KeyRing(ServerDatabase(str(tmp_path)))
    with pytest.raises(ValueError, match=field):
        LiveKeys(ring, recheck_s, max_keys=max_keys)
