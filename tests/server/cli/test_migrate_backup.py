"""``despina migrate`` (PostgreSQL schema upgrades, once per deployment) and ``despina backup``
(SQLite's online backup of an embedded store), issue 20."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from despina.cli import main
from despina.store import SchemaVersionError, open_store
from despina.store._engines import postgres as postgres_engine
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation
from support.scratch_postgres import scratch_postgres_database
from support.stored_runs import StoredRuns

PROBE_TABLE = "despina_migration_probe"


@pytest.mark.postgres
def test_servers_refuse_an_old_schema_until_despina_migrate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DESPINA_FILES_DIR", str(tmp_path / "files"))
    with scratch_postgres_database("despina_migrate") as url:
        open_store(url).close()  # a deployment at today's schema
        # a newer despina: one more schema version
        version = postgres_engine.SCHEMA_VERSION
        monkeypatch.setattr(postgres_engine, "SCHEMA_VERSION", version + 1)
        monkeypatch.setitem(
            postgres_engine.MIGRATIONS, version, (f"CREATE TABLE {PROBE_TABLE} (x INTEGER)",)
        )
        with pytest.raises(SchemaVersionError, match="despina migrate"):
            open_store(url)
        capsys.readouterr()
        assert main(["server", "--store", url, "--port", "0"]) == 1  # refused before binding
        err = capsys.readouterr().err
        assert "despina migrate" in err and f"version {version}" in err
        assert len(err.strip().splitlines()) == 1  # one line, no traceback

        assert main(["migrate", "--store", url]) == 0
        assert "current schema" in capsys.readouterr().out
        with open_store(url) as store, store.engine.read() as tx:
            assert tx.project("nobody/none") is None
        import psycopg

        with psycopg.connect(url) as conn:
            assert conn.execute(f"SELECT count(*) FROM {PROBE_TABLE}").fetchone() == (0,)
        assert main(["migrate", "--store", url]) == 0  # again: nothing to do


def test_backup_copies_an_embedded_store_in_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "store"
    store = open_store(source)
    create = RunOperation(project="ws/p", run_id="r")
    create.create.run_id = "r"
    update = RunOperation(project="ws/p", run_id="r")
    for step in range(100):
        snap = update.update_batch.snapshots.add()
        snap.step.whole = step
        snap.append["loss"].float64 = step / 2
    assert store.apply([create, update]) == [(), ()]
    store.put_file("ws/p", "r/file.bin", b"payload")
    # a reader holds a transaction open: the online backup still takes a consistent copy
    reader = sqlite3.connect(source / "despina.sqlite3")
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
    try:
        assert main(["backup", "--store", str(source), str(tmp_path / "copy")]) == 0
    finally:
        reader.rollback()
        reader.close()
        store.close()
    copy = StoredRuns(str(tmp_path / "copy"))
    try:
        assert copy.floats("ws/p", "r", "loss") == [(float(s), s / 2) for s in range(100)]
        with copy.store.open_file("ws/p", "r/file.bin") as handle:
            assert handle.read() == b"payload"
    finally:
        copy.close()
    capsys.readouterr()
    assert main(["backup", "--store", str(source), str(tmp_path / "copy")]) == 1
    assert "new or empty folder" in capsys.readouterr().err
    assert main(["backup", "--store", "postgresql://h/db", str(tmp_path / "pg")]) == 1
    assert "pg_dump" in capsys.readouterr().err
