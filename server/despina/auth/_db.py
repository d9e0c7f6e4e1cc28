"""The server's own tables (keys, grants, refresh tokens, request statuses) in SQLite or PostgreSQL.

HTTP processes keep no state of their own: everything a second server process needs to answer
the same client lives here. For an embedded folder store the tables live in
``<folder>/server.sqlite3`` beside the store's ``despina.sqlite3`` (a separate file so that
status writes never wait on the store's single SQLite writer); for PostgreSQL they live in the
same database as the store, in tables prefixed ``despina_srv_``.

SQL is written once with ``?`` placeholders and portable types; :class:`ServerDatabase`
translates placeholders for psycopg.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

__all__ = ["ServerDatabase", "server_database_url"]

SQLITE_FILE_NAME = "server.sqlite3"
SQLITE_BUSY_TIMEOUT_S = 30.0
SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")
POOL_SIZE = 8  # connections per process; request threads beyond that wait their turn
SCHEMA_LOCK_KEY = 0x64737276  # "dsrv": an advisory-lock id of our own, apart from the store's

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS despina_srv_secret (
        name TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS despina_srv_api_keys (
        key_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL UNIQUE, label TEXT NOT NULL,
        workspace TEXT NOT NULL, project TEXT, can_create_projects INTEGER NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, revoked_at DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS despina_srv_refresh_tokens (
        token_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS despina_srv_request_status (
        request_id TEXT PRIMARY KEY, project TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, issues TEXT NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS despina_srv_request_status_created
        ON despina_srv_request_status (created_at)""",
)


class _Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


def server_database_url(location: str) -> str:
    """Where the server tables live for a store ``location`` (folder, sqlite:/// or postgresql://).

    Folders are read as ``despina.store.open_store`` reads them: ``sqlite:///tmp/s`` is the
    absolute folder ``/tmp/s``, and a path to the store's ``.sqlite3`` file means its folder.
    """
    if location.startswith(POSTGRES_PREFIXES):
        return location
    if location.startswith(SQLITE_PREFIX):
        location = location[len(SQLITE_PREFIX) - 1 :]
    folder = Path(location).expanduser()
    if folder.suffix == ".sqlite3" and folder.is_file():
        folder = folder.parent
    return SQLITE_PREFIX[:-1] + str(folder.absolute() / SQLITE_FILE_NAME)  # keeps the root "/"


class ServerDatabase:
    """A thread-safe handle on the server tables: a small pool of connections, schema on open.

    The pool is bounded (``POOL_SIZE``) so that a busy server process holds a handful of
    PostgreSQL connections however many request threads it runs.
    """

    def __init__(self, location: str) -> None:
        self.location = location
        self.url = server_database_url(location)
        self.is_postgres = self.url.startswith(POSTGRES_PREFIXES)
        self._slots = threading.BoundedSemaphore(POOL_SIZE)
        self._idle: list[_Connection] = []
        self._idle_lock = threading.Lock()
        if not self.is_postgres:
            self._path().parent.mkdir(parents=True, exist_ok=True)
        with self.transaction() as tx:
            if self.is_postgres:
                # Concurrent CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL's
                # catalog when several server processes start at once: take turns.
                tx.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK_KEY,))
            for statement in SCHEMA:
                tx.execute(statement)

    def _connect(self) -> _Connection:
        if self.is_postgres:
            import psycopg  # optional extra: only a PostgreSQL deployment needs it

            pg: _Connection = psycopg.connect(self.url)
            return pg
        conn = sqlite3.connect(self._path(), timeout=SQLITE_BUSY_TIMEOUT_S, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a request status is answered to the client only after it is on disk.
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _path(self) -> Path:
        return Path(self.url[len(SQLITE_PREFIX) - 1 :])

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.is_postgres else sql

    @contextmanager
    def transaction(self) -> Iterator[_Cursor]:
        """One transaction on a pooled connection: committed on success, rolled back else."""
        with self._slots:
            with self._idle_lock:
                conn = self._idle.pop() if self._idle else None
            conn = conn or self._connect()
            healthy = False
            try:
                yield _Cursor(conn, self._sql)
                conn.commit()
                healthy = True
            except BaseException:
                try:
                    conn.rollback()
                    healthy = True
                except Exception:  # a broken connection: dropped below, not pooled again
                    pass
                raise
            finally:
                if healthy:
                    with self._idle_lock:
                        self._idle.append(conn)
                else:
                    conn.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only statement."""
        with self.transaction() as tx:
            return tx.fetchall(sql, params)

    def close(self) -> None:
        """Close the pooled connections (transactions in flight keep theirs until they end)."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class _Cursor:
    """Executes statements inside one :meth:`ServerDatabase.transaction`."""

    def __init__(self, conn: _Connection, translate: Any) -> None:
        self._conn = conn
        self._translate = translate

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        cursor = self._conn.execute(self._translate(sql), tuple(params))
        return int(cursor.rowcount)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._conn.execute(self._translate(sql), tuple(params))
        return [tuple(row) for row in cursor.fetchall()]
