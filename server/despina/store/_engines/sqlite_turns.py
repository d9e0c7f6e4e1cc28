"""Taking SQLite's single write lock in turns, so a long sliced update lets other writers in.

SQLite's own busy handler sleeps longer and longer (up to 100 ms) between tries, so a writer
that releases the lock for a moment between two slices (``_slices``) takes it back before any
waiter looks again. Here writers of one process queue in arrival order (:class:`WriterQueue`),
and ``BEGIN IMMEDIATE`` is retried every ``POLL_S`` for writers of other processes, so a pause
of ``_slices.SLICE_PAUSE_S`` between slices is enough for any of them to get a turn.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["POLL_S", "WriterQueue", "begin_immediate"]

POLL_S = 0.002  # how often a writer waiting for another process's transaction tries again
_SQLITE_BUSY = 5  # the result code (sqlite3.SQLITE_BUSY from Python 3.11)


class WriterQueue:
    """First come, first served among the threads of one process (``threading.Lock`` is not:
    the thread releasing it usually takes it again at once)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._changed:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._changed.wait()
        try:
            yield
        finally:
            with self._changed:
                self._serving += 1
                self._changed.notify_all()


def begin_immediate(conn: sqlite3.Connection, timeout_s: float) -> None:
    """``BEGIN IMMEDIATE``, waiting up to ``timeout_s`` for another process's write to end.

    The connection's own busy timeout is off for this one statement and restored after it.
    """
    deadline = time.monotonic() + timeout_s
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if not _is_busy(error) or time.monotonic() >= deadline:
                    raise
            time.sleep(POLL_S)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")


def _is_busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return bool(code == _SQLITE_BUSY)
    return "database is locked" in str(error)
