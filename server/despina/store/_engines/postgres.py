"""The PostgreSQL engine: a team server's store (``open_store("postgresql://…")``).

Every write is one transaction that first takes a transaction-scoped advisory lock, so writers
are serialized exactly as the engine contract says (the rules read series states, run counters
and experiment heads, then write them back; one writer at a time makes that read-modify-write
safe across threads, processes and server machines). Readers never wait: a read is one
``REPEATABLE READ`` snapshot. Commits use PostgreSQL's default ``synchronous_commit``, so a
write is durable when ``write()`` returns. Connections come from a small bounded pool (never
shared across ``fork``). Needs the ``postgres`` extra (psycopg 3), imported only when a
PostgreSQL URL is opened.

A URL may carry libpq options, e.g. ``?options=-csearch_path%3Dteam_a`` to keep a store in its
own schema.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from despina.store._engines.postgres_cache import ChunkCache
from despina.store._engines.postgres_pool import ConnectionPool
from despina.store._engines.postgres_schema import MIGRATIONS, SCHEMA_VERSION, VERSION_TABLE
from despina.store._engines.postgres_tx import PostgresTx
from despina.store._errors import SchemaVersionError, StoreCorrupt, StoreError, StoreNotFound

__all__ = ["PostgresEngine"]

# Advisory lock keys (arbitrary constants, "despina" in ASCII-ish): one for writers
# (transaction-scoped), one for schema migration (session-scoped, released in a finally; a
# crashed process's session ends and releases it).
WRITE_LOCK_KEY = 0x64657370_696E6101
MIGRATE_LOCK_KEY = 0x64657370_696E6102
CONNECT_TIMEOUT_S = 10  # a PostgreSQL that does not answer at all fails the open this fast
LOCK_TIMEOUT_MS = 60_000  # how long a writer waits for another writer's transaction
# Connections one engine (one process) holds at most, readers and writers apart so that queued
# writers (serialized by the lock anyway) never starve reads: two server processes stay far
# below PostgreSQL's default max_connections of 100. Requests beyond it wait for a free one.
POOL_SIZE = 8
WRITE_POOL_SIZE = 4
POOL_WAIT_S = 120.0
_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def redact(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    return _PASSWORD.sub(r"\1***@", url)


class PostgresEngine:
    """One PostgreSQL database (or schema). ``create`` False refuses to create the tables.

    An empty database gets the current schema (with ``create``); one at an older version is
    upgraded only with ``migrate`` (what ``despina migrate`` passes, once per deployment), else
    SchemaVersionError names that command: servers sharing a database must not each rewrite it
    while the others serve from it.
    """

    def __init__(self, url: str, *, create: bool, migrate: bool = False) -> None:
        try:
            import psycopg  # optional extra: only a PostgreSQL store needs it
        except ImportError as error:  # pragma: no cover - depends on the installed extras
            raise StoreError(
                "a PostgreSQL store needs psycopg: pip install 'despina[postgres]'"
            ) from error
        self._psycopg = psycopg
        self.url = url
        self.description = redact(url)
        self._local = threading.local()  # the connection of this thread's open transaction
        self._pool = ConnectionPool(self._connect, POOL_SIZE, POOL_WAIT_S)
        self._write_pool = ConnectionPool(self._connect, WRITE_POOL_SIZE, POOL_WAIT_S)
        self._chunk_cache = ChunkCache()
        try:
            with self._pool.connection() as conn:
                self._prepare(conn, create=create, migrate=migrate)
        except BaseException:
            self.close()  # a store that failed to open holds no session
            raise

    def _prepare(self, conn: Any, *, create: bool, migrate: bool) -> None:
        with conn.transaction():
            found = self._check_version(conn, create=create)
        if found == SCHEMA_VERSION:
            return
        if found and not migrate:
            raise SchemaVersionError(
                f"the store {self.description} has schema version {found}; this despina needs "
                f"version {SCHEMA_VERSION}: run `despina migrate --store <url>` once (with the "
                "new despina) before starting servers"
            )
        # Wait for the lock outside the migrating transaction: a transaction that began before
        # the wait may not see tables another process created meanwhile (PostgreSQL's catalog
        # caches are refreshed at transaction start), so the check runs in a new one.
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK_KEY,))
        try:
            with conn.transaction():
                self._migrate(conn, self._check_version(conn, create=create))
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK_KEY,))

    def _check_version(self, conn: Any, *, create: bool) -> int:
        found = self._version(conn)
        if found > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the store {self.description} has schema version {found}, newer than this "
                f"despina understands ({SCHEMA_VERSION}); upgrade despina (pip install -U despina)"
            )
        if found == 0 and not create:
            raise StoreNotFound(f"no despina store at {self.description} (no tables)")
        return found

    def _version(self, conn: Any) -> int:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (VERSION_TABLE,)).fetchone()
        if not exists[0]:
            return 0
        row = conn.execute(f"SELECT version FROM {VERSION_TABLE}").fetchone()
        if row is None:
            raise StoreCorrupt(f"{self.description}: {VERSION_TABLE} holds no schema version")
        return int(row[0])

    def _migrate(self, conn: Any, found: int) -> None:
        if found == 0:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER NOT NULL)")
            conn.execute(
                f"INSERT INTO {VERSION_TABLE} (version) SELECT 0 WHERE NOT EXISTS "
                f"(SELECT 1 FROM {VERSION_TABLE})"
            )
        for version in range(found, SCHEMA_VERSION):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute(f"UPDATE {VERSION_TABLE} SET version = %s", (version + 1,))

    def _connect(self) -> Any:
        try:
            conn = self._psycopg.connect(
                self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            )
        except self._psycopg.OperationalError as error:
            raise StoreNotFound(f"cannot connect to {self.description}: {error}") from error
        conn.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
        return conn

    @contextmanager
    def write(self) -> Iterator[PostgresTx]:
        with self._write_pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
            self._local.conn = conn
            try:
                yield PostgresTx(conn, self._chunk_cache)
            finally:
                self._local.conn = None

    @contextmanager
    def read(self) -> Iterator[PostgresTx]:
        current = getattr(self._local, "conn", None)
        if current is not None:  # nested read inside a transaction: reuse it
            yield PostgresTx(current)
            return
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            self._local.conn = conn
            try:
                yield PostgresTx(conn)
            finally:
                self._local.conn = None

    def pool_usage(self) -> dict[str, tuple[int, int]]:
        """Connections in use and pool size, per pool (``read``, ``write``)."""
        pools = {"read": self._pool, "write": self._write_pool}
        return {name: (pool.in_use(), pool.size) for name, pool in pools.items()}

    def close(self) -> None:
        self._pool.close()
        self._write_pool.close()
