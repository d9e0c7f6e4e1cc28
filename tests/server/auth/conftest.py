"""The server tables on every database the server runs on: SQLite always, PostgreSQL when up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from despina.auth import ServerDatabase
from support.scratch_postgres import scratch_postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerDatabase]:
    if request.param == "sqlite":
        db = ServerDatabase(str(tmp_path))
        yield db
        db.close()
        return
    with scratch_postgres_database("despina_auth") as url:
        db = ServerDatabase(url)
        yield db
        db.close()
