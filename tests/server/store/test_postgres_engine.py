"""Only the PostgreSQL engine: its URL, schema version row, and writers racing on one run."""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import pytest
from despina.store import SchemaVersionError, StoreNotFound, open_store
from support.opbuild import create, float_points, metrics
from support.postgres_support import postgres_location

pytestmark = pytest.mark.postgres

RACERS = 4
ROUNDS = 20
BARRIER_TIMEOUT_S = 60


@pytest.fixture
def pg_location(tmp_path, monkeypatch: pytest.MonkeyPatch) -> str:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DESPINA_FILES_DIR", str(tmp_path / "files"))
    return postgres_location()


def test_empty_schema_is_not_a_store_when_reading(pg_location: str) -> None:
    with pytest.raises(StoreNotFound, match="no despina store"):
        open_store(pg_location, create=False)
    open_store(pg_location).close()
    open_store(pg_location, create=False).close()


def test_newer_schema_is_refused_with_upgrade_hint(pg_location: str) -> None:
    import psycopg

    open_store(pg_location).close()
    with psycopg.connect(pg_location, autocommit=True) as conn:
        conn.execute("UPDATE despina_store_meta SET version = 999")
    with pytest.raises(SchemaVersionError, match="upgrade despina"):
        open_store(pg_location)


def test_description_hides_the_password(pg_location: str) -> None:
    with open_store(pg_location) as store:
        assert ":despina@" not in store.engine.description
        assert "***@" in store.engine.description


def test_missing_files_folder_setting_is_explained(
    pg_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DESPINA_FILES_DIR")
    with pytest.raises(StoreNotFound, match="DESPINA_FILES_DIR"):
        open_store(pg_location)


def test_unreachable_server_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DESPINA_FILES_DIR", str(tmp_path))
    with pytest.raises(
        StoreNotFound, match=r"cannot connect to postgresql://u:\*\*\*@127.0.0.1:1/"
    ):
        open_store("postgresql://u:secret@127.0.0.1:1/x")


def test_stores_racing_on_one_series_keep_every_point(pg_location: str) -> None:
    """Separate engines (as separate server processes) append to the same series in turn.

    Each append reads the series state and writes it back; the engine's writer lock must make
    those read-modify-writes serial, or counts and chunks would lose points.
    """
    open_store(pg_location).apply([create("shared")])
    turn = threading.Barrier(RACERS)
    errors: list[BaseException] = []
    lock = threading.Lock()
    next_step = iter(range(RACERS * ROUNDS))

    def racer() -> None:
        with open_store(pg_location) as store:
            try:
                for _ in range(ROUNDS):
                    turn.wait(timeout=BARRIER_TIMEOUT_S)
                    with lock:
                        step = next(next_step)
                    # Steps are handed out in order but may land out of order: a late step is
                    # rejected by the rules (an issue), never lost silently or double counted.
                    store.apply([metrics("shared", {"m": [float(step)]}, start=step)])
            except BaseException as error:  # collected: a thread cannot fail the test itself
                errors.append(error)
                turn.abort()  # release the others instead of leaving them at the barrier

    threads = [threading.Thread(target=racer) for _ in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_store(pg_location) as store:
        points = float_points(store, "shared", "m")
        with store.engine.read() as tx:
            project = tx.projects()[0]
            run = tx.run(project.pk, "shared")
            assert run is not None
            state = tx.series(run.pk)["m"]
    assert np.all(np.diff(points[:, 0]) > 0)
    assert np.array_equal(points[:, 0], points[:, 1])
    assert state.count == len(points) and state.last_step == points[-1, 0]


def test_packed_arrays_use_lz4_when_the_server_has_it(pg_location: str) -> None:
    import psycopg

    open_store(pg_location).close()
    with psycopg.connect(pg_location, autocommit=True) as conn:
        (has_lz4,) = conn.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).fetchone()
        rows = conn.execute(
            "SELECT attname, attcompression FROM pg_attribute WHERE attrelid = "
            "'despina_float_chunks'::regclass AND attname IN ('steps', 'vals', 'ts')"
        ).fetchall()
    assert {name: kind for name, kind in rows} == dict.fromkeys(
        ("steps", "vals", "ts"), "l" if has_lz4 else ""
    )


def test_last_chunk_of_a_rolled_back_write_is_never_served(pg_location: str) -> None:
    import dataclasses

    with open_store(pg_location) as store:
        store.apply([create("r"), metrics("r", {"m": [1.0, 2.0, 3.0]})])
        with store.engine.read() as tx:
            run = tx.run(tx.projects()[0].pk, "r")
            assert run is not None
            series_pk = tx.series(run.pk)["m"].pk
        assert series_pk is not None
        with pytest.raises(RuntimeError), store.engine.write() as tx:
            real = tx.last_chunk(series_pk)
            assert real is not None and real.count == 3
            ghost = dataclasses.replace(real, count=4, last_step=3.0, values=real.values * 2)
            tx.put_chunks([ghost])  # the engine remembers it as the last chunk ...
            raise RuntimeError("... but the transaction rolls back")
        with store.engine.write() as tx:
            again = tx.last_chunk(series_pk)
        assert again == real
        store.apply([metrics("r", {"m": [4.0]}, start=3)])
        assert float_points(store, "r", "m")[:, 1].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_many_threads_share_a_bounded_pool_of_connections(pg_location: str) -> None:
    import psycopg
    from despina.store._engines.postgres import POOL_SIZE

    threads_n = POOL_SIZE * 3
    location = f"{pg_location}&application_name=despina_pool_test"
    inside = threading.Barrier(POOL_SIZE + 1, timeout=BARRIER_TIMEOUT_S)
    seen: list[int] = []
    with open_store(location) as store:

        def reader() -> None:
            with store.engine.read() as tx:
                tx.projects()
                # The first POOL_SIZE readers hold their connections here; later ones find the
                # barrier broken once it has done its job.
                with contextlib.suppress(threading.BrokenBarrierError):
                    inside.wait()

        threads = [threading.Thread(target=reader) for _ in range(threads_n)]
        for t in threads:
            t.start()
        inside.wait()  # POOL_SIZE reads are open at once; the others wait for a connection
        with psycopg.connect(pg_location, autocommit=True) as conn:
            (count,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                ("despina_pool_test",),
            ).fetchone()
            seen.append(count)
        inside.abort()
        for t in threads:
            t.join()
    assert seen == [POOL_SIZE]
