"""SQL of the SQLite engine: each method of :class:`despina.store._engine.Tx` is one statement."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from despina.store._model import FloatChunk, NewRun, Point, ProjectRow, RunRow, SeriesState
from despina.store._sqlite_schema import pack_summary

__all__ = ["SQLiteTx"]

_RUN_COLUMNS = (
    "pk, project_pk, custom_id, short_id, experiment, is_head, creation_ms, modification_ms, "
    "family, parent_pk, fork_step, requested_parent, inherit_configs, depth"
)
_SERIES_COLUMNS = (
    "pk, run_pk, path, type, count, first_step, last_step, last_ts, last_value, finite_count, "
    "vmin, vmax, vsum, vsumsq, has_preview"
)
_SUMMARY_COLUMNS = (
    "series_pk, first_step, last_step, count, finite_count, nan_count, pinf_count, ninf_count, "
    "vmin, vmax, vsum, first_fstep, first_fvalue, last_fstep, last_fvalue"
)
_JOINED = "float_chunks JOIN float_chunk_data USING (series_pk, first_step)"
# SQLite allows 32766 bound parameters; stay well below it when expanding IN (...) lists.
_MAX_IN_LIST = 10_000


def _run(row: Sequence[Any]) -> RunRow:
    return RunRow(
        pk=row[0],
        project_pk=row[1],
        custom_id=row[2],
        short_id=row[3],
        experiment=row[4],
        is_head=bool(row[5]),
        creation_ms=row[6],
        modification_ms=row[7],
        family=row[8],
        parent_pk=row[9],
        fork_step=row[10],
        requested_parent=row[11],
        inherit_configs=bool(row[12]),
        depth=row[13],
    )


def _series(row: Sequence[Any]) -> SeriesState:
    return SeriesState(
        pk=row[0],
        run_pk=row[1],
        path=row[2],
        type=row[3],
        count=row[4],
        first_step=row[5],
        last_step=row[6],
        last_ts=row[7],
        last_value=row[8],
        finite_count=row[9],
        vmin=row[10],
        vmax=row[11],
        vsum=row[12],
        vsumsq=row[13],
        has_preview=bool(row[14]),
    )


def _chunk(row: Sequence[Any], arrays: Sequence[bytes] = (b"", b"", b"")) -> FloatChunk:
    return FloatChunk(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
        row[13],
        row[14],
        arrays[0],
        arrays[1],
        arrays[2],
    )


def _range(lo: float | None, hi: float | None, first: str, last: str) -> tuple[str, list[float]]:
    clauses, params = [], []
    if lo is not None:
        clauses.append(f" AND {last} >= ?")
        params.append(lo)
    if hi is not None:
        clauses.append(f" AND {first} <= ?")
        params.append(hi)
    return "".join(clauses), params


def _chunk_range(series_pk: int, lo: float | None, hi: float | None) -> tuple[str, list[Any]]:
    """Chunks overlapping [lo, hi], as an index range: chunks are disjoint and sorted, so the
    first one needed is the last starting at or before ``lo`` (without this lower bound on
    first_step SQLite would scan every earlier chunk to test last_step)."""
    where, params = _range(lo, hi, "first_step", "last_step")
    if lo is not None:
        where += (
            " AND first_step >= coalesce((SELECT max(first_step) FROM float_chunks "
            "WHERE series_pk = ? AND first_step <= ?), ?)"
        )
        params += [series_pk, lo, lo]
    return where, params


def _chunks_of(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + _MAX_IN_LIST] for i in range(0, len(items), _MAX_IN_LIST)] or [[]]


class SQLiteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    # projects
    def projects(self) -> list[ProjectRow]:
        rows = self._c.execute("SELECT pk, name, key FROM projects ORDER BY name").fetchall()
        return [ProjectRow(*row) for row in rows]

    def project(self, name: str) -> ProjectRow | None:
        row = self._c.execute(
            "SELECT pk, name, key FROM projects WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else ProjectRow(*row)

    def insert_project(self, name: str, key: str) -> ProjectRow:
        cur = self._c.execute("INSERT INTO projects (name, key) VALUES (?, ?)", (name, key))
        assert cur.lastrowid is not None
        return ProjectRow(cur.lastrowid, name, key)

    def next_run_number(self, project_pk: int) -> int:
        row = self._c.execute(
            "UPDATE projects SET run_counter = run_counter + 1 WHERE pk = ? RETURNING run_counter",
            (project_pk,),
        ).fetchone()
        return int(row[0])

    # runs
    def _runs(self, where: str, params: Sequence[Any]) -> list[RunRow]:
        sql = f"SELECT {_RUN_COLUMNS} FROM runs WHERE {where} ORDER BY creation_ms, pk"
        return [_run(row) for row in self._c.execute(sql, params)]

    def run(self, project_pk: int, custom_id: str) -> RunRow | None:
        found = self._runs("project_pk = ? AND custom_id = ?", (project_pk, custom_id))
        return found[0] if found else None

    def run_by_pk(self, pk: int) -> RunRow | None:
        found = self._runs("pk = ?", (pk,))
        return found[0] if found else None

    def run_by_short_id(self, project_pk: int, short_id: str) -> RunRow | None:
        found = self._runs("project_pk = ? AND short_id = ?", (project_pk, short_id))
        return found[0] if found else None

    def runs(self, project_pk: int) -> list[RunRow]:
        return self._runs("project_pk = ?", (project_pk,))

    def children(self, run_pk: int) -> list[RunRow]:
        return self._runs("parent_pk = ?", (run_pk,))

    def experiment_runs(self, project_pk: int, experiment: str) -> list[RunRow]:
        return self._runs("project_pk = ? AND experiment = ?", (project_pk, experiment))

    def insert_run(self, run: NewRun) -> RunRow:
        cur = self._c.execute(
            "INSERT INTO runs (project_pk, custom_id, short_id, experiment, is_head, creation_ms, "
            "modification_ms, family, parent_pk, fork_step, requested_parent, inherit_configs, "
            "depth) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run.project_pk,
                run.custom_id,
                run.short_id,
                run.experiment,
                run.creation_ms,
                run.creation_ms,
                run.family,
                run.parent_pk,
                run.fork_step,
                run.requested_parent,
                int(run.inherit_configs),
                run.depth,
            ),
        )
        assert cur.lastrowid is not None
        row = self.run_by_pk(cur.lastrowid)
        assert row is not None
        return row

    def set_heads(self, flags: Mapping[int, bool]) -> None:
        self._c.executemany(
            "UPDATE runs SET is_head = ? WHERE pk = ?", [(int(v), pk) for pk, v in flags.items()]
        )

    def touch_run(self, run_pk: int, modification_ms: int) -> None:
        self._c.execute(
            "UPDATE runs SET modification_ms = max(modification_ms, ?) WHERE pk = ?",
            (modification_ms, run_pk),
        )

    # attributes
    def attributes(
        self, run_pk: int, paths: Collection[str] | None = None
    ) -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        if paths is None:
            rows = self._c.execute(
                "SELECT path, type, value FROM attributes WHERE run_pk = ?", (run_pk,)
            )
            return {path: (kind, value) for path, kind, value in rows}
        for part in _chunks_of(list(paths)):
            marks = ",".join("?" * len(part))
            sql = f"SELECT path, type, value FROM attributes WHERE run_pk = ? AND path IN ({marks})"
            out.update({p: (k, v) for p, k, v in self._c.execute(sql, (run_pk, *part))})
        return out

    def attributes_of_runs(self, run_pks: Sequence[int]) -> dict[int, dict[str, tuple[str, str]]]:
        out: dict[int, dict[str, tuple[str, str]]] = {pk: {} for pk in run_pks}
        for part in _chunks_of(list(run_pks)):
            marks = ",".join("?" * len(part))
            sql = f"SELECT run_pk, path, type, value FROM attributes WHERE run_pk IN ({marks})"
            for run_pk, path, kind, value in self._c.execute(sql, part):
                out[run_pk][path] = (kind, value)
        return out

    def put_attributes(self, run_pk: int, values: Mapping[str, tuple[str, str]]) -> None:
        self._c.executemany(
            "INSERT OR REPLACE INTO attributes (run_pk, path, type, value) VALUES (?, ?, ?, ?)",
            [(run_pk, path, kind, value) for path, (kind, value) in values.items()],
        )

    # series
    def series(self, run_pk: int, paths: Collection[str] | None = None) -> dict[str, SeriesState]:
        if paths is None:
            sql = f"SELECT {_SERIES_COLUMNS} FROM series WHERE run_pk = ?"
            return {s.path: s for s in map(_series, self._c.execute(sql, (run_pk,)))}
        out: dict[str, SeriesState] = {}
        for part in _chunks_of(list(paths)):
            marks = ",".join("?" * len(part))
            sql = f"SELECT {_SERIES_COLUMNS} FROM series WHERE run_pk = ? AND path IN ({marks})"
            out.update({s.path: s for s in map(_series, self._c.execute(sql, (run_pk, *part)))})
        return out

    def series_of_runs(self, run_pks: Sequence[int]) -> dict[int, dict[str, SeriesState]]:
        out: dict[int, dict[str, SeriesState]] = {pk: {} for pk in run_pks}
        for part in _chunks_of(list(run_pks)):
            marks = ",".join("?" * len(part))
            sql = f"SELECT {_SERIES_COLUMNS} FROM series WHERE run_pk IN ({marks})"
            for state in map(_series, self._c.execute(sql, part)):
                out[state.run_pk][state.path] = state
        return out

    def save_series(self, states: Sequence[SeriesState]) -> None:
        for s in states:
            values = s.stats()
            if s.pk is None:
                cur = self._c.execute(
                    "INSERT INTO series (run_pk, path, type, count, first_step, last_step, "
                    "last_ts, last_value, finite_count, vmin, vmax, vsum, vsumsq, has_preview) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (s.run_pk, s.path, s.type, *values),
                )
                s.pk = cur.lastrowid
            else:
                self._c.execute(
                    "UPDATE series SET count = ?, first_step = ?, last_step = ?, last_ts = ?, "
                    "last_value = ?, finite_count = ?, vmin = ?, vmax = ?, vsum = ?, vsumsq = ?, "
                    "has_preview = ? WHERE pk = ?",
                    (*values, s.pk),
                )

    # float chunks
    def last_chunk(self, series_pk: int) -> FloatChunk | None:
        row = self._c.execute(
            f"SELECT {_SUMMARY_COLUMNS}, steps, vals, ts FROM {_JOINED} WHERE series_pk = ? "
            "ORDER BY first_step DESC LIMIT 1",
            (series_pk,),
        ).fetchone()
        return None if row is None else _chunk(row, row[15:])

    def put_chunks(self, chunks: Sequence[FloatChunk]) -> None:
        marks = ", ".join("?" * 16)
        self._c.executemany(
            f"INSERT OR REPLACE INTO float_chunks ({_SUMMARY_COLUMNS}, packed) VALUES ({marks})",
            [(*summary, pack_summary(summary)) for summary in (c.summary() for c in chunks)],
        )
        self._c.executemany(
            "INSERT OR REPLACE INTO float_chunk_data (series_pk, first_step, steps, vals, ts) "
            "VALUES (?, ?, ?, ?, ?)",
            [(c.series_pk, c.first_step, c.steps, c.values, c.timestamps) for c in chunks],
        )

    def chunk_summary_array(
        self, series_pk: int, lo: float | None, hi: float | None
    ) -> npt.NDArray[np.float64]:
        """Summaries as an (n, 15) float array in ``_SUMMARY_COLUMNS`` order, NULL as NaN (an
        optional primitive: bucket queries over millions of points use it when present)."""
        where, params = _chunk_range(series_pk, lo, hi)
        sql = f"SELECT packed FROM float_chunks WHERE series_pk = ?{where} ORDER BY first_step"
        rows = self._c.execute(sql, (series_pk, *params)).fetchall()
        packed = b"".join(row[0] for row in rows)
        return np.frombuffer(packed, dtype="<f8").astype(np.float64).reshape(len(rows), 15)

    def chunk_summaries(
        self, series_pk: int, lo: float | None, hi: float | None
    ) -> list[FloatChunk]:
        where, params = _chunk_range(series_pk, lo, hi)
        sql = (
            f"SELECT {_SUMMARY_COLUMNS} FROM float_chunks WHERE series_pk = ?{where} "
            "ORDER BY first_step"
        )
        return [_chunk(row) for row in self._c.execute(sql, (series_pk, *params))]

    def chunks(
        self, series_pk: int, lo: float | None, hi: float | None, *, timestamps: bool = True
    ) -> list[FloatChunk]:
        where, params = _chunk_range(series_pk, lo, hi)
        ts = "ts" if timestamps else "x''"
        sql = (
            f"SELECT {_SUMMARY_COLUMNS}, steps, vals, {ts} FROM {_JOINED} "
            f"WHERE series_pk = ?{where} ORDER BY first_step"
        )
        return [_chunk(row, row[15:]) for row in self._c.execute(sql, (series_pk, *params))]

    def chunks_at(
        self, series_pk: int, first_steps: Sequence[float], *, timestamps: bool = False
    ) -> list[FloatChunk]:
        """Chunks by their first step, in step order (an optional primitive readers use when
        present: one statement instead of one per range)."""
        ts = "ts" if timestamps else "x''"
        out: list[FloatChunk] = []
        for part in _chunks_of(sorted(first_steps)):
            marks = ",".join("?" * len(part))
            sql = (
                f"SELECT {_SUMMARY_COLUMNS}, steps, vals, {ts} FROM {_JOINED} "
                f"WHERE series_pk = ? AND first_step IN ({marks}) ORDER BY first_step"
            )
            out.extend(_chunk(row, row[15:]) for row in self._c.execute(sql, (series_pk, *part)))
        return out

    # points
    def put_points(self, series_pk: int, points: Sequence[Point]) -> None:
        self._c.executemany(
            "INSERT OR REPLACE INTO points (series_pk, is_preview, step, ts, completion, value) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(series_pk, int(p.is_preview), p.step, p.ts, p.completion, p.value) for p in points],
        )

    def delete_points(self, series_pk: int, steps: Sequence[float], *, is_preview: bool) -> None:
        self._c.executemany(
            "DELETE FROM points WHERE series_pk = ? AND is_preview = ? AND step = ?",
            [(series_pk, int(is_preview), step) for step in steps],
        )

    def points(
        self,
        series_pk: int,
        lo: float | None,
        hi: float | None,
        *,
        is_preview: bool | None = False,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[Point]:
        where, params = _range(lo, hi, "step", "step")
        if is_preview is not None:
            where += " AND is_preview = ?"
            params.append(int(is_preview))
        order = "DESC" if descending else "ASC"
        sql = (
            "SELECT step, ts, value, is_preview, completion FROM points "
            f"WHERE series_pk = ?{where} ORDER BY step {order}, is_preview"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [
            Point(step, ts, value, bool(prev), completion)
            for step, ts, value, prev, completion in self._c.execute(sql, (series_pk, *params))
        ]
