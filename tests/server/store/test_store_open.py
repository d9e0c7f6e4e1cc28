"""Conformance: several writer processes at once; opening, schema versions and corrupt files."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from despina.query import Reader
from despina.store import SchemaVersionError, StoreCorrupt, StoreNotFound, open_store
from support.opbuild import create, float_points, metrics

WRITERS = 4
BATCHES = 15
POINTS_PER_BATCH = 200


def _writer(location: str, index: int) -> None:
    run_id = f"rank-{index}"
    with open_store(location) as store:
        assert store.apply([create(run_id, experiment="sweep")]) == [()]
        for b in range(BATCHES):
            start = b * POINTS_PER_BATCH
            values = np.arange(start, start + POINTS_PER_BATCH) * (index + 1.0)
            assert store.apply([metrics(run_id, {"loss": values, "lr": values}, start=start)]) == [
                ()
            ]


def test_several_processes_write_different_runs_at_once(store_location: str) -> None:
    open_store(store_location).close()  # create the schema once; writers race on everything else
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(store_location, i)) for i in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    total = BATCHES * POINTS_PER_BATCH
    with open_store(store_location) as store:
        with store.engine.read() as tx:
            runs = tx.runs(tx.projects()[0].pk)
        assert sorted(r.short_id for r in runs) == [f"PROJ-{i}" for i in range(1, WRITERS + 1)]
        assert sum(r.is_head for r in runs) == 1
        for i in range(WRITERS):
            points = float_points(store, f"rank-{i}", "loss")
            assert np.array_equal(points[:, 0], np.arange(total))
            assert np.array_equal(points[:, 1], np.arange(total) * (i + 1.0))


def test_reading_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFound, match="no despina store"):
        open_store(tmp_path / "nothing", create=False)
    assert not (tmp_path / "nothing").exists()
    with pytest.raises(StoreNotFound):
        open_store(f"sqlite:///{tmp_path}/nothing", create=False)
    assert list(tmp_path.iterdir()) == []


def test_sqlite_url_and_folder_open_the_same_store(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/s") as store:
        store.apply([create("a")])
    with open_store(tmp_path / "s", create=False) as store, store.engine.read() as tx:
        assert [p.name for p in tx.projects()] == ["ws/proj"]


def test_corrupt_file_is_reported_and_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "despina.sqlite3").write_bytes(b"this is not a database" * 100)
    before = (folder / "despina.sqlite3").read_bytes()
    for create_flag in (False, True):
        with pytest.raises(StoreCorrupt, match="not a readable despina store"):
            open_store(folder, create=create_flag)
    assert (folder / "despina.sqlite3").read_bytes() == before


def test_foreign_sqlite_file_is_not_a_store(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    conn = sqlite3.connect(folder / "despina.sqlite3")
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()
    for create_flag in (False, True):
        with pytest.raises(StoreCorrupt, match="not a despina store"):
            open_store(folder, create=create_flag)
    conn = sqlite3.connect(folder / "despina.sqlite3")
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["notes"]
    conn.close()


@pytest.mark.parametrize("header", [False, True])
def test_a_store_whose_creation_was_interrupted_is_finished_by_a_reader(
    tmp_path: Path, header: bool
) -> None:
    """What a full disk leaves when it stops the schema's transaction (see
    tests/adversarial/test_adv_disk_full_store.py): an empty file, or SQLite's header in WAL
    mode and no table. That is an unfinished store, not a foreign file."""
    folder = tmp_path / "s"
    folder.mkdir()
    conn = sqlite3.connect(folder / "despina.sqlite3")
    if header:
        conn.execute("PRAGMA page_size = 16384")
        conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    with Reader(folder) as reader:
        assert reader.list_projects() == []
    with open_store(folder, create=False) as store:
        store.apply([create("a")])
    with Reader(folder) as reader:
        assert reader.list_runs("ws/proj") == ["a"]


def test_newer_schema_says_to_upgrade(tmp_path: Path) -> None:
    open_store(tmp_path / "s").close()
    conn = sqlite3.connect(tmp_path / "s" / "despina.sqlite3")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(SchemaVersionError, match="upgrade despina"):
        open_store(tmp_path / "s")


def test_version_1_store_is_migrated_with_its_points(tmp_path: Path) -> None:
    from despina.store._engines.sqlite_schema import MIGRATIONS, SCHEMA_VERSION
    from despina.store._series import pack_chunks

    folder = tmp_path / "s"
    folder.mkdir()
    conn = sqlite3.connect(folder / "despina.sqlite3")
    conn.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")  # as despina 0.1 left it
    conn.execute(
        "INSERT INTO projects (pk, name, key, run_counter) VALUES (1, 'ws/proj', 'PROJ', 1)"
    )
    conn.execute(
        "INSERT INTO runs (pk, project_pk, custom_id, short_id, creation_ms, modification_ms, "
        "inherit_configs, depth) VALUES (1, 1, 'a', 'PROJ-1', 0, 0, 1, 0)"
    )
    conn.execute(
        "INSERT INTO series (pk, run_pk, path, type, count, first_step, last_step, finite_count, "
        "vsum, vsumsq, has_preview) VALUES (1, 1, 'x', 'floatSeries', 3, 0, 2, 3, 3, 5, 0)"
    )
    (chunk,) = pack_chunks(
        1, np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 2.0]), np.zeros(3, dtype=np.int64)
    )
    row = [getattr(chunk, f) for f in chunk.__slots__]  # type: ignore[attr-defined]
    conn.execute(f"INSERT INTO float_chunks VALUES ({', '.join('?' * len(row))})", row)
    conn.commit()
    conn.close()
    with open_store(folder) as store:
        assert float_points(store, "a", "x").tolist() == [[0, 0.0], [1, 1.0], [2, 2.0]]
        whole = Reader(store).fetch_metric_buckets("ws/proj", ["a"], ["x"], limit=1)  # summaries
        assert whole[["count", "min", "max", "sum"]].values.tolist() == [[3, 0.0, 2.0, 3.0]]
        assert store.apply([metrics("a", {"x": [3.0]}, start=3)]) == [()]
        assert float_points(store, "a", "x")[:, 1].tolist() == [0.0, 1.0, 2.0, 3.0]
    conn = sqlite3.connect(folder / "despina.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_version_1_store_reads_its_fork_step_as_an_int(tmp_path: Path) -> None:
    from despina.store._engines.sqlite_schema import MIGRATIONS

    folder = tmp_path / "s"
    folder.mkdir()
    conn = sqlite3.connect(folder / "despina.sqlite3")
    conn.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")  # as despina 0.1 left it
    conn.execute("INSERT INTO projects (pk, name, key, run_counter) VALUES (1, 'ws/p', 'P', 2)")
    conn.execute(
        "INSERT INTO runs (pk, project_pk, custom_id, short_id, creation_ms, modification_ms, "
        "parent_pk, fork_step, requested_parent, inherit_configs, depth) VALUES "
        "(1, 1, 'a', 'P-1', 0, 0, NULL, NULL, NULL, 1, 0), "
        "(2, 1, 'b', 'P-2', 1, 1, 1, 500.0, 'ws/p/a', 1, 1)"  # REAL, as it was always kept
    )
    conn.commit()
    conn.close()
    with Reader(folder) as reader:
        assert reader.attribute_types("ws/p", ["b"], "^sys/forking/step$") == {
            "sys/forking/step": "int"
        }
        step = reader.fetch_runs_table("ws/p", ["b"], ["sys/forking/step"]).loc["b"].iloc[0]
    assert step == 500 and isinstance(step.item() if hasattr(step, "item") else step, int)


def test_migrations_run_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from despina.store._engines import sqlite as _sqlite
    from despina.store._engines import sqlite_schema as _sqlite_schema

    current = _sqlite_schema.SCHEMA_VERSION
    open_store(tmp_path / "s").close()
    upgraded = {**_sqlite_schema.MIGRATIONS, current: "CREATE TABLE added_later (x INTEGER)"}
    monkeypatch.setattr(_sqlite_schema, "MIGRATIONS", upgraded)
    monkeypatch.setattr(_sqlite_schema, "SCHEMA_VERSION", current + 1)
    monkeypatch.setattr(_sqlite, "SCHEMA_VERSION", current + 1)
    open_store(tmp_path / "s").close()
    conn = sqlite3.connect(tmp_path / "s" / "despina.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == current + 1
    assert conn.execute("SELECT count(*) FROM added_later").fetchone()[0] == 0
    conn.close()
