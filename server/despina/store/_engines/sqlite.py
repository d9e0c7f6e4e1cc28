"""The SQLite engine: the embedded store's database (``<folder>/despina.sqlite3``).

WAL mode lets readers work while one process writes; every write is one ``BEGIN IMMEDIATE``
transaction, so several processes (the ranks of a job, a sweep) can write different runs into one
folder at once — a writer waits up to ``BUSY_TIMEOUT_MS`` for the lock, in turns
(``_sqlite_turns``). ``synchronous=FULL`` makes a commit durable when it returns. Connections are
per thread and re-opened after ``fork``.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from despina.store._engines.sqlite_schema import SCHEMA_VERSION, migrate
from despina.store._engines.sqlite_turns import WriterQueue, begin_immediate
from despina.store._engines.sqlite_tx import SQLiteTx
from despina.store._errors import SchemaVersionError, StoreCorrupt, StoreNotFound

__all__ = ["DATABASE_FILE", "SQLiteEngine"]

DATABASE_FILE = "despina.sqlite3"
BUSY_TIMEOUT_MS = 60_000  # how long a writer waits for another process's transaction
# Compact chunk rows are a few KiB, mostly above what a page keeps inline; the rest goes to
# overflow pages, each used by one row only: with 16 KiB pages a 7 KiB row wasted 11 KiB (the
# store was 7.6 bytes per point instead of 5.6, benchmarks/store/bench_codec.py).
PAGE_SIZE_BYTES = 4096
SQLITE_FULL = 13  # the result code of a write that found the disk full
SQLITE_IOERR = 10  # the primary result code of every I/O error (the low byte of the extended code)
CACHE_SIZE_KIB = 65_536  # page cache per connection (negative PRAGMA value = KiB)


class SQLiteEngine:
    """One SQLite database file. ``create`` False refuses to create a missing database; one
    without any table (its creation was interrupted, e.g. by a full disk) is finished either way.
    """

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        self.description = str(path)
        self._local = threading.local()
        self._writers = WriterQueue()
        self._writers_pid = os.getpid()
        if not path.exists():
            if not create:
                raise StoreNotFound(f"no despina store at {path.parent} ({path.name} is missing)")
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._prepare()
        except BaseException:
            self.close()  # the error's traceback would keep the connection (and its locks) open
            raise

    def _prepare(self) -> None:
        conn = self._connection()
        try:
            found = conn.execute("PRAGMA user_version").fetchone()[0]
            if found == SCHEMA_VERSION:
                return
            if found > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"the store {self.path} has schema version {found}, newer than this despina "
                    f"understands ({SCHEMA_VERSION}); upgrade despina (pip install -U despina)"
                )
            if found == 0 and _has_tables(conn):  # another program's database: never written into
                raise StoreCorrupt(f"{self.path} is not a despina store (tables, no schema)")
            # Version 0 without any table is a store whose creation was interrupted (a full disk
            # after SQLite wrote the header, before the schema's one transaction committed):
            # finish it, also for a reader, so the data delivered into it later can be read.
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Another process may have migrated while we waited for the lock.
                found = conn.execute("PRAGMA user_version").fetchone()[0]
                migrate(conn, found)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        except sqlite3.DatabaseError as error:
            raise _unreadable(self.path, error) from error

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        conn = None
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                conn.execute(f"PRAGMA page_size = {PAGE_SIZE_BYTES}")
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute(f"PRAGMA cache_size = -{CACHE_SIZE_KIB}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as error:
            if conn is not None:
                conn.close()
            raise _unreadable(self.path, error) from error
        self._local.conn = conn
        self._local.pid = os.getpid()
        return conn

    @contextmanager
    def write(self) -> Iterator[SQLiteTx]:
        if self._writers_pid != os.getpid():  # a forked child: the parent's turns are not ours
            self._writers, self._writers_pid = WriterQueue(), os.getpid()
        with self._writers.turn():
            conn = self._connection()
            begin_immediate(conn, BUSY_TIMEOUT_MS / 1000)
            try:
                yield SQLiteTx(conn)
            except BaseException:
                _rollback(conn)
                raise
            conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[SQLiteTx]:
        conn = self._connection()
        if conn.in_transaction:  # nested read inside a write: reuse it
            yield SQLiteTx(conn)
            return
        conn.execute("BEGIN")
        try:
            yield SQLiteTx(conn)
        finally:
            conn.execute("COMMIT")

    def reclaim_space(self) -> None:
        """Shrink the file to what it holds, with today's page size (VACUUM rebuilds it; it
        needs room for a copy, and waits for, then blocks, other writers).

        A store created with larger pages gets ``PAGE_SIZE_BYTES`` on the way when no other
        connection is open (leaving WAL mode, which the change needs, takes the file alone);
        otherwise it keeps its page size and is only shrunk.
        """
        with self._writers.turn():
            conn = self._connection()
            size = conn.execute("PRAGMA page_size").fetchone()[0]
            if size != PAGE_SIZE_BYTES:
                conn.execute("PRAGMA busy_timeout = 200")  # do not wait for others to leave
                try:
                    conn.execute("PRAGMA journal_mode = DELETE")
                    conn.execute(f"PRAGMA page_size = {PAGE_SIZE_BYTES}")
                except sqlite3.OperationalError:  # another connection: keep the page size
                    pass
                finally:
                    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            try:
                conn.execute("VACUUM")
            finally:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local = threading.local()


def _has_tables(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is still open: after SQLITE_FULL or an I/O error SQLite has already rolled
    the transaction back, and a ROLLBACK then would raise "no transaction is active" in place of
    the error that says why."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _unreadable(path: Path, error: sqlite3.DatabaseError) -> Exception:
    """A full disk or an I/O error (e.g. while the schema is created) is an OSError, which writers
    retry; anything else means the file is not a store. SQLite reports ENOSPC as SQLITE_FULL when
    it writes the database or its WAL, but as an I/O error (SQLITE_IOERR_SHMSIZE …) when it grows
    the ``-shm`` file, so every SQLITE_IOERR counts: neither says the file is not a store."""
    code = getattr(error, "sqlite_errorcode", None)
    if code == SQLITE_FULL or "disk is full" in str(error):
        return OSError(errno.ENOSPC, f"no room on the disk for the store {path}: {error}")
    if code is not None and code & 0xFF == SQLITE_IOERR:
        return OSError(
            errno.EIO, f"cannot read or write the store {path} (is the disk full?): {error}"
        )
    return StoreCorrupt(f"{path} is not a readable despina store: {error}")
