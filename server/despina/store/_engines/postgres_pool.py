"""A small, bounded pool of PostgreSQL connections for one engine.

A server process runs requests on many threads (FastAPI's pool has 40); a connection per thread
would let two processes exhaust PostgreSQL's default 100 connections. The pool lends at most
``size`` connections at a time (others wait up to ``wait_s``), keeps idle ones for reuse, drops
broken ones (a restarted PostgreSQL costs one failed request, not a dead process) and never
reuses a connection across ``fork``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from despina.store._errors import StoreError

__all__ = ["ConnectionPool"]


class ConnectionPool:
    def __init__(self, connect: Callable[[], Any], size: int, wait_s: float) -> None:
        self._connect = connect
        self.size = size
        self._slots = threading.BoundedSemaphore(size)
        self._lent = 0  # connections handed out now (what /metrics reports as pool use)
        self._wait_s = wait_s
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self._pid = os.getpid()

    def _take(self) -> Any:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's sessions are not ours
                self._idle, self._pid = [], os.getpid()
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn
        return self._connect()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        if not self._slots.acquire(timeout=self._wait_s):
            raise StoreError(f"no free database connection within {self._wait_s:.0f} s")
        conn = None
        with self._lock:
            self._lent += 1
        try:
            conn = self._take()
            yield conn
        finally:
            if conn is not None:
                self._give_back(conn)
            with self._lock:
                self._lent -= 1
            self._slots.release()

    def in_use(self) -> int:
        """How many connections are lent out now."""
        return self._lent

    def _give_back(self, conn: Any) -> None:
        if conn.closed or conn.broken or conn.info.transaction_status != 0:  # 0: idle
            conn.close()
            return
        with self._lock:
            if self._pid == os.getpid():
                self._idle.append(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            mine = self._pid == os.getpid()
        for conn in idle:
            if mine:  # a forked child must not close its parent's sessions
                conn.close()
