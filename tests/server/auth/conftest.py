"""The server tables on every database the server runs on: SQLite always, PostgreSQL when up."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from despina.auth import ServerDatabase


def _postgres_database() -> Iterator[str]:
    url = os.environ.get("DESPINA_TEST_POSTGRES")
    if not url:
        pytest.skip("DESPINA_TEST_POSTGRES is not set (scripts/postgres-start sets it)")
    import psycopg

    name = f"despina_auth_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    base, _, _ = url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerDatabase]:
    if request.param == "sqlite":
        db = ServerDatabase(str(tmp_path))
        yield db
        db.close()
        return
    for url in _postgres_database():
        db = ServerDatabase(url)
        yield db
        db.close()
