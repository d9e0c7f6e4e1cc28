"""SQL of the PostgreSQL engine: each method of :class:`despina.store._engine.Tx` is one statement.

Columns are selected in the field order of the ``_model`` dataclasses and PostgreSQL returns
native booleans, so rows map onto them positionally. ``IN`` lists are one array parameter
(``= ANY(%s)``), which has no bound-parameter limit.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from despina.store._model import FloatChunk, NewRun, Point, ProjectRow, RunRow, SeriesState
from despina.store._postgres_cache import ChunkCache

__all__ = ["PostgresTx"]

_RUN_COLUMNS = (
    "pk, project_pk, custom_id, short_id, experiment, is_head, creation_ms, modification_ms, "
    "family, parent_pk, fork_step, requested_parent, inherit_configs, depth"
)
_SERIES_VALUES = (
    "count, first_step, last_step, last_ts, last_value, finite_count, vmin, vmax, vsum, vsumsq, "
    "has_preview"
)
_SERIES_COLUMNS = f"pk, run_pk, path, type, {_SERIES_VALUES}"
_SUMMARY_COLUMNS = (
    "series_pk, first_step, last_step, count, finite_count, nan_count, pinf_count, ninf_count, "
    "vmin, vmax, vsum, first_fstep, first_fvalue, last_fstep, last_fvalue"
)
# PostgreSQL text cannot hold NUL; such a name can never have been stored, so a lookup of one
# finds nothing (the rules reject it before anything is written).
_NUL = "\x00"


def _storable(texts: Collection[str]) -> list[str]:
    return [t for t in texts if _NUL not in t]


def _range(lo: float | None, hi: float | None, first: str, last: str) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if lo is not None:
        clauses.append(f" AND {last} >= %s")
        params.append(lo)
    if hi is not None:
        clauses.append(f" AND {first} <= %s")
        params.append(hi)
    return "".join(clauses), params


def _chunk_range(series_pk: int, lo: float | None, hi: float | None) -> tuple[str, list[Any]]:
    """Chunks overlapping [lo, hi] as an index range on (series_pk, first_step): chunks are
    disjoint and sorted, so the first one needed is the last starting at or before ``lo``."""
    where, params = _range(lo, hi, "first_step", "last_step")
    if lo is not None:
        where += (
            " AND first_step >= coalesce((SELECT max(first_step) FROM despina_float_chunks "
            "WHERE series_pk = %s AND first_step <= %s), %s)"
        )
        params += [series_pk, lo, lo]
    return where, params


class PostgresTx:
    def __init__(self, conn: Any, cache: ChunkCache | None = None) -> None:
        self._c = conn
        self._cache = cache

    def _all(
        self, sql: str, params: Sequence[Any] = (), *, binary: bool = False
    ) -> list[tuple[Any, ...]]:
        # ``binary`` for the packed arrays: as text, bytea doubles in size (hex) and costs a
        # parse per byte.
        rows: list[tuple[Any, ...]] = self._c.execute(sql, params, binary=binary).fetchall()
        return rows

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        # executemany pipelines its statements but costs a sync round trip of its own; most
        # calls carry one row (one chunk, one series), which a plain execute sends cheaper.
        if len(rows) == 1:
            self._c.execute(sql, rows[0])
        elif rows:
            self._c.cursor().executemany(sql, rows)

    # projects
    def projects(self) -> list[ProjectRow]:
        rows = self._all("SELECT pk, name, key FROM despina_projects ORDER BY name")
        return [ProjectRow(*row) for row in rows]

    def project(self, name: str) -> ProjectRow | None:
        if _NUL in name:
            return None
        rows = self._all("SELECT pk, name, key FROM despina_projects WHERE name = %s", (name,))
        return ProjectRow(*rows[0]) if rows else None

    def insert_project(self, name: str, key: str) -> ProjectRow:
        rows = self._all(
            "INSERT INTO despina_projects (name, key) VALUES (%s, %s) RETURNING pk", (name, key)
        )
        return ProjectRow(rows[0][0], name, key)

    def next_run_number(self, project_pk: int) -> int:
        rows = self._all(
            "UPDATE despina_projects SET run_counter = run_counter + 1 WHERE pk = %s "
            "RETURNING run_counter",
            (project_pk,),
        )
        return int(rows[0][0])

    # runs
    def _runs(self, where: str, params: Sequence[Any]) -> list[RunRow]:
        sql = f"SELECT {_RUN_COLUMNS} FROM despina_runs WHERE {where} ORDER BY creation_ms, pk"
        return [RunRow(*row) for row in self._all(sql, params)]

    def run(self, project_pk: int, custom_id: str) -> RunRow | None:
        if _NUL in custom_id:
            return None
        found = self._runs("project_pk = %s AND custom_id = %s", (project_pk, custom_id))
        return found[0] if found else None

    def run_by_pk(self, pk: int) -> RunRow | None:
        found = self._runs("pk = %s", (pk,))
        return found[0] if found else None

    def run_by_short_id(self, project_pk: int, short_id: str) -> RunRow | None:
        if _NUL in short_id:
            return None
        found = self._runs("project_pk = %s AND short_id = %s", (project_pk, short_id))
        return found[0] if found else None

    def runs(self, project_pk: int) -> list[RunRow]:
        return self._runs("project_pk = %s", (project_pk,))

    def children(self, run_pk: int) -> list[RunRow]:
        return self._runs("parent_pk = %s", (run_pk,))

    def experiment_runs(self, project_pk: int, experiment: str) -> list[RunRow]:
        if _NUL in experiment:
            return []
        return self._runs("project_pk = %s AND experiment = %s", (project_pk, experiment))

    def insert_run(self, run: NewRun) -> RunRow:
        rows = self._all(
            "INSERT INTO despina_runs (project_pk, custom_id, short_id, experiment, is_head, "
            "creation_ms, modification_ms, family, parent_pk, fork_step, requested_parent, "
            "inherit_configs, depth) "
            "VALUES (%s, %s, %s, %s, FALSE, %s, %s, %s, %s, %s, %s, %s, %s) "
            f"RETURNING {_RUN_COLUMNS}",
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
                run.inherit_configs,
                run.depth,
            ),
        )
        return RunRow(*rows[0])

    def set_heads(self, flags: Mapping[int, bool]) -> None:
        if flags:
            self._many(
                "UPDATE despina_runs SET is_head = %s WHERE pk = %s",
                [(value, pk) for pk, value in flags.items()],
            )

    def touch_run(self, run_pk: int, modification_ms: int) -> None:
        self._c.execute(
            "UPDATE despina_runs SET modification_ms = GREATEST(modification_ms, %s) WHERE pk = %s",
            (modification_ms, run_pk),
        )

    # attributes
    def attributes(
        self, run_pk: int, paths: Collection[str] | None = None
    ) -> dict[str, tuple[str, str]]:
        sql = "SELECT path, type, value FROM despina_attributes WHERE run_pk = %s"
        params: tuple[Any, ...] = (run_pk,)
        if paths is not None:
            sql += " AND path = ANY(%s)"
            params = (run_pk, _storable(paths))
        return {path: (kind, value) for path, kind, value in self._all(sql, params)}

    def attributes_of_runs(self, run_pks: Sequence[int]) -> dict[int, dict[str, tuple[str, str]]]:
        out: dict[int, dict[str, tuple[str, str]]] = {pk: {} for pk in run_pks}
        rows = self._all(
            "SELECT run_pk, path, type, value FROM despina_attributes WHERE run_pk = ANY(%s)",
            (list(run_pks),),
        )
        for run_pk, path, kind, value in rows:
            out[run_pk][path] = (kind, value)
        return out

    def put_attributes(self, run_pk: int, values: Mapping[str, tuple[str, str]]) -> None:
        if values:
            self._many(
                "INSERT INTO despina_attributes (run_pk, path, type, value) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (run_pk, path) "
                "DO UPDATE SET type = EXCLUDED.type, value = EXCLUDED.value",
                [(run_pk, path, kind, value) for path, (kind, value) in values.items()],
            )

    # series
    def series(self, run_pk: int, paths: Collection[str] | None = None) -> dict[str, SeriesState]:
        sql = f"SELECT {_SERIES_COLUMNS} FROM despina_series WHERE run_pk = %s"
        params: tuple[Any, ...] = (run_pk,)
        if paths is not None:
            sql += " AND path = ANY(%s)"
            params = (run_pk, _storable(paths))
        return {row[2]: SeriesState(*row) for row in self._all(sql, params)}

    def series_of_runs(self, run_pks: Sequence[int]) -> dict[int, dict[str, SeriesState]]:
        out: dict[int, dict[str, SeriesState]] = {pk: {} for pk in run_pks}
        sql = f"SELECT {_SERIES_COLUMNS} FROM despina_series WHERE run_pk = ANY(%s)"
        for row in self._all(sql, (list(run_pks),)):
            state = SeriesState(*row)
            out[state.run_pk][state.path] = state
        return out

    def save_series(self, states: Sequence[SeriesState]) -> None:
        new = [s for s in states if s.pk is None]
        old = [s for s in states if s.pk is not None]
        for s in new:
            rows = self._all(
                f"INSERT INTO despina_series (run_pk, path, type, {_SERIES_VALUES}) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING pk",
                (s.run_pk, s.path, s.type, *s.stats()),
            )
            s.pk = rows[0][0]
        if old:
            self._many(
                "UPDATE despina_series SET count = %s, first_step = %s, last_step = %s, "
                "last_ts = %s, last_value = %s, finite_count = %s, vmin = %s, vmax = %s, "
                "vsum = %s, vsumsq = %s, has_preview = %s WHERE pk = %s",
                [(*s.stats(), s.pk) for s in old],
            )

    # float chunks
    def last_chunk(self, series_pk: int) -> FloatChunk | None:
        if self._cache is None:
            rows = self._all(
                f"SELECT {_SUMMARY_COLUMNS}, steps, vals, ts FROM despina_float_chunks "
                "WHERE series_pk = %s ORDER BY first_step DESC LIMIT 1",
                (series_pk,),
                binary=True,
            )
            return FloatChunk(*rows[0]) if rows else None
        bounds = self._all(
            "SELECT first_step, last_step, count FROM despina_float_chunks "
            "WHERE series_pk = %s ORDER BY first_step DESC LIMIT 1",
            (series_pk,),
        )
        if not bounds:
            return None
        cached = self._cache.get(series_pk, *bounds[0])
        if cached is not None:
            return cached
        rows = self._all(
            f"SELECT {_SUMMARY_COLUMNS}, steps, vals, ts FROM despina_float_chunks "
            "WHERE series_pk = %s AND first_step = %s",
            (series_pk, bounds[0][0]),
            binary=True,
        )
        chunk = FloatChunk(*rows[0])
        self._cache.put(chunk, read=True)
        return chunk

    def put_chunks(self, chunks: Sequence[FloatChunk]) -> None:
        if not chunks:
            return
        updates = ", ".join(
            f"{name.strip()} = EXCLUDED.{name.strip()}"
            for name in (_SUMMARY_COLUMNS + ", steps, vals, ts").split(",")[2:]
        )
        self._many(
            f"INSERT INTO despina_float_chunks ({_SUMMARY_COLUMNS}, steps, vals, ts) VALUES "
            f"({', '.join(['%s'] * 18)}) ON CONFLICT (series_pk, first_step) DO UPDATE SET "
            f"{updates}",
            [(*c.summary(), c.steps, c.values, c.timestamps) for c in chunks],
        )
        if self._cache is not None:
            for chunk in chunks:
                self._cache.put(chunk)

    def chunk_summaries(
        self, series_pk: int, lo: float | None, hi: float | None
    ) -> list[FloatChunk]:
        where, params = _chunk_range(series_pk, lo, hi)
        sql = (
            f"SELECT {_SUMMARY_COLUMNS} FROM despina_float_chunks WHERE series_pk = %s{where} "
            "ORDER BY first_step"
        )
        rows = self._all(sql, (series_pk, *params))
        return [FloatChunk(*(*row, b"", b"", b"")) for row in rows]  # summaries: no arrays

    def chunks(
        self, series_pk: int, lo: float | None, hi: float | None, *, timestamps: bool = True
    ) -> list[FloatChunk]:
        where, params = _chunk_range(series_pk, lo, hi)
        ts = "ts" if timestamps else "''::bytea"
        sql = (
            f"SELECT {_SUMMARY_COLUMNS}, steps, vals, {ts} FROM despina_float_chunks "
            f"WHERE series_pk = %s{where} ORDER BY first_step"
        )
        return [FloatChunk(*row) for row in self._all(sql, (series_pk, *params), binary=True)]

    def chunks_at(
        self, series_pk: int, first_steps: Sequence[float], *, timestamps: bool = False
    ) -> list[FloatChunk]:
        """Chunks by their first step, in step order (the optional primitive readers use)."""
        ts = "ts" if timestamps else "''::bytea"
        sql = (
            f"SELECT {_SUMMARY_COLUMNS}, steps, vals, {ts} FROM despina_float_chunks "
            "WHERE series_pk = %s AND first_step = ANY(%s) ORDER BY first_step"
        )
        rows = self._all(sql, (series_pk, list(first_steps)), binary=True)
        return [FloatChunk(*row) for row in rows]

    # points
    def put_points(self, series_pk: int, points: Sequence[Point]) -> None:
        if points:
            self._many(
                "INSERT INTO despina_points (series_pk, is_preview, step, ts, completion, value) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (series_pk, is_preview, step) "
                "DO UPDATE SET ts = EXCLUDED.ts, completion = EXCLUDED.completion, "
                "value = EXCLUDED.value",
                [(series_pk, p.is_preview, p.step, p.ts, p.completion, p.value) for p in points],
            )

    def delete_points(self, series_pk: int, steps: Sequence[float], *, is_preview: bool) -> None:
        if steps:
            self._c.execute(
                "DELETE FROM despina_points WHERE series_pk = %s AND is_preview = %s "
                "AND step = ANY(%s)",
                (series_pk, is_preview, list(steps)),
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
            where += " AND is_preview = %s"
            params.append(is_preview)
        order = "DESC" if descending else "ASC"
        sql = (
            "SELECT step, ts, value, is_preview, completion FROM despina_points "
            f"WHERE series_pk = %s{where} ORDER BY step {order}, is_preview"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Point(*row) for row in self._all(sql, (series_pk, *params))]
