"""A scratch database on the test PostgreSQL server, for tests that need a whole database
(several server processes, the server tables) rather than the store suite's schemas."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def scratch_postgres_database(prefix: str) -> Iterator[str]:
    """The URL of a new database named ``<prefix>_<random>``, dropped on exit; skips the test
    when $DESPINA_TEST_POSTGRES (set by scripts/postgres-start) is missing."""
    url = os.environ.get("DESPINA_TEST_POSTGRES")
    if not url:
        pytest.skip("DESPINA_TEST_POSTGRES is not set (scripts/postgres-start sets it)")
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{url.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
