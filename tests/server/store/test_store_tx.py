"""Conformance of the Tx primitives themselves (``_tx_common`` and each engine's part), below the
rules: row types, upserts, IN lists longer than SQLite binds in one statement, NUL names."""

from __future__ import annotations

import numpy as np
from despina.store import FloatChunk, NewRun, Point, RunRow, SeriesState, Store, Tx

MANY = 10_050  # more than the SQLite Tx binds in one IN (...) list


def _new_run(project_pk: int, custom_id: str, number: int, parent: RunRow | None = None) -> NewRun:
    return NewRun(
        project_pk=project_pk,
        custom_id=custom_id,
        short_id=f"TX-{number}",
        experiment="exp",
        creation_ms=1_000 + number,
        family=custom_id,
        parent_pk=None if parent is None else parent.pk,
        fork_step=None if parent is None else 2.5,
        requested_parent=None if parent is None else f"ws/tx/{parent.custom_id}",
        inherit_configs=parent is None,
        depth=0 if parent is None else parent.depth + 1,
    )


def _new_series(tx: Tx, kind: str) -> int:
    """The pk of a new series of type ``kind`` in a new run of a new project."""
    project = tx.insert_project("ws/tx", "TX")
    run = tx.insert_run(_new_run(project.pk, "a", 1))
    state = SeriesState(None, run.pk, "s", kind)
    tx.save_series([state])
    assert state.pk is not None
    return state.pk


def _chunk(series_pk: int, steps: list[float]) -> FloatChunk:
    values = np.asarray(steps, dtype="<f8") * 10
    return FloatChunk(
        series_pk,
        steps[0],
        steps[-1],
        len(steps),
        len(steps),
        0,
        0,
        0,
        float(values.min()),
        float(values.max()),
        float(values.sum()),
        steps[0],
        float(values[0]),
        steps[-1],
        float(values[-1]),
        np.asarray(steps, dtype="<f8").tobytes(),
        values.tobytes(),
        np.arange(len(steps), dtype="<i8").tobytes(),
    )


def test_projects_and_runs_come_back_as_typed_rows(store: Store) -> None:
    with store.engine.write() as tx:
        project = tx.insert_project("ws/tx", "TX")
        assert tx.project("ws/tx") == project and tx.projects() == [project]
        assert [tx.next_run_number(project.pk) for _ in range(3)] == [1, 2, 3]
        root = tx.insert_run(_new_run(project.pk, "root", 1))
        child = tx.insert_run(_new_run(project.pk, "child", 2, parent=root))
        assert (root.is_head, root.inherit_configs, child.inherit_configs) == (False, True, False)
        assert type(root.is_head) is bool and type(child.inherit_configs) is bool
        assert (child.parent_pk, child.fork_step, child.depth) == (root.pk, 2.5, 1)
        tx.set_heads({child.pk: True})
        tx.touch_run(root.pk, 5_000)
        tx.touch_run(root.pk, 4_000)  # an older time never moves modification back
    with store.engine.read() as tx:
        assert tx.run(project.pk, "root") == RunRow(
            root.pk, project.pk, "root", "TX-1", "exp", False, 1_001, 5_000, "root",
            None, None, None, True, 0,
        )  # fmt: skip
        assert tx.run_by_short_id(project.pk, "TX-2") == tx.run_by_pk(child.pk)
        assert [r.custom_id for r in tx.experiment_runs(project.pk, "exp")] == ["root", "child"]
        assert [r.custom_id for r in tx.children(root.pk)] == ["child"]
        assert tx.run_by_pk(child.pk).is_head is True  # type: ignore[union-attr]
        # Names with NUL are never stored (the rules reject them): looking one up finds nothing.
        assert tx.project("ws/\x00") is None and tx.run(project.pk, "ro\x00ot") is None
        assert tx.run_by_short_id(project.pk, "TX-\x00") is None
        assert tx.experiment_runs(project.pk, "e\x00") == []


def test_attributes_and_series_by_long_path_lists_and_by_runs(store: Store) -> None:
    with store.engine.write() as tx:
        project = tx.insert_project("ws/tx", "TX")
        a = tx.insert_run(_new_run(project.pk, "a", 1))
        b = tx.insert_run(_new_run(project.pk, "b", 2))
        values = {f"cfg/{i:05d}": ("int", str(i)) for i in range(MANY)}
        tx.put_attributes(a.pk, values)
        tx.put_attributes(a.pk, {"cfg/00001": ("string", '"x"')})  # replaces type and value
        tx.put_attributes(b.pk, {"only/b": ("bool", "true")})
        states = [SeriesState(None, a.pk, f"m/{i}", "floatSeries", count=i) for i in range(3)]
        states.append(SeriesState(None, b.pk, "m/0", "stringSeries", has_preview=True))
        tx.save_series(states)
        assert all(s.pk is not None for s in states)
        states[0].count, states[0].last_step, states[0].vmin = 7, 6.0, -1.5
        tx.save_series(states[:1])  # an update
    wanted = [*values, "missing", "with\x00nul"]
    with store.engine.read() as tx:
        got = tx.attributes(a.pk, wanted)
        assert len(got) == MANY and got["cfg/00001"] == ("string", '"x"')
        assert got["cfg/10049"] == ("int", "10049")
        assert tx.attributes(a.pk) == got
        by_run = tx.attributes_of_runs([a.pk, b.pk, 999_999])
        assert by_run[a.pk] == got and by_run[b.pk] == {"only/b": ("bool", "true")}
        assert by_run[999_999] == {}
        series = tx.series(a.pk, ["m/0", "m/2", "m/9"])
        assert sorted(series) == ["m/0", "m/2"]
        assert (series["m/0"].count, series["m/0"].last_step, series["m/0"].vmin) == (7, 6.0, -1.5)
        of_runs = tx.series_of_runs([a.pk, b.pk])
        assert sorted(of_runs[a.pk]) == ["m/0", "m/1", "m/2"]
        assert of_runs[b.pk]["m/0"].has_preview is True
        assert of_runs[a.pk]["m/1"].has_preview is False


def test_points_upsert_delete_and_ranges(store: Store) -> None:
    with store.engine.write() as tx:
        series_pk = _new_series(tx, "stringSeries")
        tx.put_points(series_pk, [Point(float(s), 100 + s, f'"{s}"') for s in range(MANY)])
        tx.put_points(series_pk, [Point(3.0, 1, '"three"'), Point(3.0, 2, '"p"', True, 0.5)])
        tx.delete_points(series_pk, [float(s) for s in range(10, MANY)], is_preview=False)
        tx.delete_points(series_pk, [], is_preview=True)
    with store.engine.read() as tx:
        committed = tx.points(series_pk, None, None)
        assert [p.step for p in committed] == [float(s) for s in range(10)]
        assert committed[3] == Point(3.0, 1, '"three"', False, None)
        assert tx.points(series_pk, 2.0, 4.0, is_preview=None) == [
            Point(2.0, 102, '"2"'),
            Point(3.0, 1, '"three"'),
            Point(3.0, 2, '"p"', True, 0.5),
            Point(4.0, 104, '"4"'),
        ]
        last_two = tx.points(series_pk, None, None, limit=2, descending=True)
        assert [p.step for p in last_two] == [9.0, 8.0]


def test_chunks_read_back_whole_as_summaries_and_by_first_step(store: Store) -> None:
    with store.engine.write() as tx:
        series_pk = _new_series(tx, "floatSeries")
        chunks = [_chunk(series_pk, [float(s) for s in range(k, k + 4)]) for k in (0, 4, 8)]
        tx.put_chunks(chunks)
        replaced = _chunk(series_pk, [8.0, 9.0, 10.0, 11.0, 12.0])
        tx.put_chunks([replaced])
        assert tx.last_chunk(series_pk) == replaced
    with store.engine.read() as tx:
        assert tx.last_chunk(series_pk) == replaced
        assert tx.chunks(series_pk, None, None) == [*chunks[:2], replaced]
        assert tx.chunks(series_pk, 5.0, 9.0) == [chunks[1], replaced]
        no_ts = tx.chunks(series_pk, 5.0, 5.0, timestamps=False)
        assert no_ts == [_without(chunks[1], timestamps=True)]
        summaries = tx.chunk_summaries(series_pk, 0.0, 4.0)
        assert summaries == [_without(chunks[0]), _without(chunks[1])]
        at = tx.chunks_at(series_pk, [8.0, 0.0, 100.0])  # type: ignore[attr-defined]
        assert at == [_without(chunks[0], timestamps=True), _without(replaced, timestamps=True)]
        assert tx.last_chunk(10**9) is None


def _without(chunk: FloatChunk, *, timestamps: bool = False) -> FloatChunk:
    """``chunk`` as read without its timestamps (``timestamps``) or without any array."""
    if timestamps:
        return FloatChunk(*chunk.summary(), chunk.steps, chunk.values, b"")
    return FloatChunk(*chunk.summary(), b"", b"", b"")
