"""A fresh PostgreSQL location per test: one database per test session, one schema per test.

The server comes from ``eval "$(scripts/postgres-start)"``, which exports ``DESPINA_TEST_POSTGRES``
(a superuser URL). Without it the PostgreSQL tests skip with the reason locally and fail in CI
(``CI=true``), where a missing PostgreSQL is a broken setup, not an optional part. The session's
database is dropped when the test process exits, taking every test's schema with it.
"""

from __future__ import annotations

import atexit
import itertools
import os
import uuid
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

__all__ = ["POSTGRES_ENV", "postgres_admin_url", "postgres_location"]

POSTGRES_ENV = "DESPINA_TEST_POSTGRES"
_state: dict[str, str] = {}
_counter = itertools.count(1)


def postgres_admin_url() -> str:
    """The superuser URL, or skip (fail in CI) with the reason."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        reason = f'${POSTGRES_ENV} is not set: run eval "$(scripts/postgres-start)" first'
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required in CI: {reason}")
        pytest.skip(reason)
    return url


def _with_database(url: str, database: str, query: str = "") -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, query, ""))


def _drop(admin_url: str, database: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _session_database() -> str:
    if "url" not in _state:
        import psycopg

        admin = postgres_admin_url()
        database = f"despina_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        atexit.register(_drop, admin, database)
        _state["url"] = _with_database(admin, database)
    return _state["url"]


def postgres_location() -> str:
    """A ``postgresql://`` URL whose ``search_path`` is a new, empty schema."""
    import psycopg

    base = _session_database()
    schema = f"t{next(_counter)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return _with_database(
        base, urlsplit(base).path[1:], "options=" + quote(f"-csearch_path={schema}")
    )
