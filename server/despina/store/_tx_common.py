"""What the engines' transactions share: every :class:`despina.store._engine.Tx` primitive whose
statement reads the same in SQLite and PostgreSQL.

An engine's Tx extends :class:`SqlTx` and supplies only what differs: how a statement reaches its
connection (``_all``, ``_execute``, ``_many``), how an ``IN`` list is bound (``_in``), its table
names, the few spellings the dialects do not share, and its float-chunk storage (``last_chunk``,
``put_chunks``). Statements are written with ``?`` placeholders; an engine whose driver wants
another style rewrites them in its ``_all``/``_execute``/``_many``.

Columns are selected in the field order of the ``_model`` dataclasses, so rows map onto them
positionally; boolean columns go through ``bool()`` (SQLite returns 0 and 1). Booleans are bound
as Python ``bool`` (SQLite stores 1 and 0).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from despina.store._codec import loaded_chunk
from despina.store._model import FloatChunk, NewRun, Point, ProjectRow, RunRow, SeriesState

__all__ = [
    "RUN_COLUMNS",
    "SERIES_COLUMNS",
    "SERIES_VALUES",
    "SUMMARY_COLUMNS",
    "SqlTx",
    "Tables",
    "marks",
    "upsert",
]

RUN_COLUMNS = (
    "pk, project_pk, custom_id, short_id, experiment, is_head, creation_ms, modification_ms, "
    "family, parent_pk, fork_step, requested_parent, inherit_configs, depth"
)
SERIES_VALUES = (
    "count, first_step, last_step, last_ts, last_value, finite_count, vmin, vmax, vsum, vsumsq, "
    "has_preview"
)
SERIES_COLUMNS = f"pk, run_pk, path, type, {SERIES_VALUES}"
SUMMARY_COLUMNS = (
    "series_pk, first_step, last_step, count, finite_count, nan_count, pinf_count, ninf_count, "
    "vmin, vmax, vsum, first_fstep, first_fvalue, last_fstep, last_fvalue"
)
_NUL = "\x00"
_NO_ARRAYS: tuple[bytes, ...] = (b"", b"", b"")  # a chunk summary read without its arrays


@dataclass(frozen=True, slots=True)
class Tables:
    """The table names of one engine's schema."""

    projects: str
    runs: str
    attributes: str
    series: str
    float_chunks: str
    points: str

    @classmethod
    def prefixed(cls, prefix: str) -> Tables:
        names = ("projects", "runs", "attributes", "series", "float_chunks", "points")
        return cls(*(prefix + name for name in names))


def marks(count: int) -> str:
    """``?, ?, …`` for ``count`` bound values."""
    return ", ".join("?" * count)


def upsert(table: str, columns: Sequence[str], keys: Sequence[str]) -> str:
    """Insert one row, replacing the values of a row with the same ``keys`` (both dialects
    spell it this way; SQLite since 3.24)."""
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks(len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


def _run(row: Sequence[Any]) -> RunRow:
    values = list(row)
    values[5] = bool(values[5])  # is_head
    values[12] = bool(values[12])  # inherit_configs
    return RunRow(*values)


def _series(row: Sequence[Any]) -> SeriesState:
    values = list(row)
    values[14] = bool(values[14])  # has_preview
    return SeriesState(*values)


def _step_range(lo: float | None, hi: float | None, first: str, last: str) -> tuple[str, list[Any]]:
    """Clauses keeping rows whose [first, last] overlaps [lo, hi] (None = open)."""
    clauses: list[str] = []
    params: list[Any] = []
    if lo is not None:
        clauses.append(f" AND {last} >= ?")
        params.append(lo)
    if hi is not None:
        clauses.append(f" AND {first} <= ?")
        params.append(hi)
    return "".join(clauses), params


class SqlTx(ABC):
    """One transaction on a SQL connection; subclasses name the tables and bind statements."""

    TABLES: ClassVar[Tables]
    CHUNK_SOURCE: ClassVar[str]  # the FROM clause giving a chunk's summary and arrays together
    GREATEST: ClassVar[str]  # the two-argument maximum: SQLite max(), PostgreSQL GREATEST()
    EMPTY_BLOB: ClassVar[str]  # an empty bytes literal, for arrays a reader does not want
    TEXT_HOLDS_NUL: ClassVar[bool]  # False: a name with NUL cannot have been stored

    def __init__(self, conn: Any) -> None:
        self._c = conn

    # what an engine provides
    @abstractmethod
    def _all(
        self, sql: str, params: Sequence[Any] = (), *, binary: bool = False
    ) -> list[tuple[Any, ...]]:
        """The rows of one statement (``binary`` asks for bytes columns without a text detour)."""

    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement that returns no rows."""

    @abstractmethod
    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per row of parameters (the shared code never passes no rows)."""

    @abstractmethod
    def _in(self, column: str, values: Sequence[Any]) -> list[tuple[str, Sequence[Any]]]:
        """``column`` IN ``values`` as (clause, parameters) pairs, one per statement to run."""

    def _findable(self, text: str) -> bool:
        return self.TEXT_HOLDS_NUL or _NUL not in text

    def _searchable(self, texts: Iterable[str]) -> list[str]:
        return list(texts) if self.TEXT_HOLDS_NUL else [t for t in texts if _NUL not in t]

    # projects
    def projects(self) -> list[ProjectRow]:
        rows = self._all(f"SELECT pk, name, key FROM {self.TABLES.projects} ORDER BY name")
        return [ProjectRow(*row) for row in rows]

    def project(self, name: str) -> ProjectRow | None:
        if not self._findable(name):
            return None
        sql = f"SELECT pk, name, key FROM {self.TABLES.projects} WHERE name = ?"
        rows = self._all(sql, (name,))
        return ProjectRow(*rows[0]) if rows else None

    def insert_project(self, name: str, key: str) -> ProjectRow:
        sql = f"INSERT INTO {self.TABLES.projects} (name, key) VALUES (?, ?) RETURNING pk"
        rows = self._all(sql, (name, key))
        return ProjectRow(rows[0][0], name, key)

    def next_run_number(self, project_pk: int) -> int:
        rows = self._all(
            f"UPDATE {self.TABLES.projects} SET run_counter = run_counter + 1 WHERE pk = ? "
            "RETURNING run_counter",
            (project_pk,),
        )
        return int(rows[0][0])

    # runs
    def _runs(self, where: str, params: Sequence[Any]) -> list[RunRow]:
        sql = f"SELECT {RUN_COLUMNS} FROM {self.TABLES.runs} WHERE {where} ORDER BY creation_ms, pk"
        return [_run(row) for row in self._all(sql, params)]

    def run(self, project_pk: int, custom_id: str) -> RunRow | None:
        if not self._findable(custom_id):
            return None
        found = self._runs("project_pk = ? AND custom_id = ?", (project_pk, custom_id))
        return found[0] if found else None

    def run_by_pk(self, pk: int) -> RunRow | None:
        found = self._runs("pk = ?", (pk,))
        return found[0] if found else None

    def run_by_short_id(self, project_pk: int, short_id: str) -> RunRow | None:
        if not self._findable(short_id):
            return None
        found = self._runs("project_pk = ? AND short_id = ?", (project_pk, short_id))
        return found[0] if found else None

    def runs(self, project_pk: int) -> list[RunRow]:
        return self._runs("project_pk = ?", (project_pk,))

    def children(self, run_pk: int) -> list[RunRow]:
        return self._runs("parent_pk = ?", (run_pk,))

    def experiment_runs(self, project_pk: int, experiment: str) -> list[RunRow]:
        if not self._findable(experiment):
            return []
        return self._runs("project_pk = ? AND experiment = ?", (project_pk, experiment))

    def insert_run(self, run: NewRun) -> RunRow:
        rows = self._all(
            f"INSERT INTO {self.TABLES.runs} (project_pk, custom_id, short_id, experiment, "
            "is_head, creation_ms, modification_ms, family, parent_pk, fork_step, "
            "requested_parent, inherit_configs, depth) "
            f"VALUES (?, ?, ?, ?, FALSE, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {RUN_COLUMNS}",
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
        return _run(rows[0])

    def set_heads(self, flags: Mapping[int, bool]) -> None:
        if flags:
            self._many(
                f"UPDATE {self.TABLES.runs} SET is_head = ? WHERE pk = ?",
                [(value, pk) for pk, value in flags.items()],
            )

    def touch_run(self, run_pk: int, modification_ms: int) -> None:
        self._execute(
            f"UPDATE {self.TABLES.runs} "
            f"SET modification_ms = {self.GREATEST}(modification_ms, ?) WHERE pk = ?",
            (modification_ms, run_pk),
        )

    # attributes
    def attributes(
        self, run_pk: int, paths: Collection[str] | None = None
    ) -> dict[str, tuple[str, str]]:
        sql = f"SELECT path, type, value FROM {self.TABLES.attributes} WHERE run_pk = ?"
        if paths is None:
            return {path: (kind, value) for path, kind, value in self._all(sql, (run_pk,))}
        out: dict[str, tuple[str, str]] = {}
        for clause, params in self._in("path", self._searchable(paths)):
            rows = self._all(f"{sql} AND {clause}", (run_pk, *params))
            out.update({path: (kind, value) for path, kind, value in rows})
        return out

    def attributes_of_runs(self, run_pks: Sequence[int]) -> dict[int, dict[str, tuple[str, str]]]:
        out: dict[int, dict[str, tuple[str, str]]] = {pk: {} for pk in run_pks}
        sql = f"SELECT run_pk, path, type, value FROM {self.TABLES.attributes} WHERE "
        for clause, params in self._in("run_pk", list(run_pks)):
            for run_pk, path, kind, value in self._all(sql + clause, params):
                out[run_pk][path] = (kind, value)
        return out

    def put_attributes(self, run_pk: int, values: Mapping[str, tuple[str, str]]) -> None:
        if values:
            self._many(
                upsert(
                    self.TABLES.attributes, ("run_pk", "path", "type", "value"), ("run_pk", "path")
                ),
                [(run_pk, path, kind, value) for path, (kind, value) in values.items()],
            )

    # series
    def series(self, run_pk: int, paths: Collection[str] | None = None) -> dict[str, SeriesState]:
        sql = f"SELECT {SERIES_COLUMNS} FROM {self.TABLES.series} WHERE run_pk = ?"
        if paths is None:
            return {s.path: s for s in map(_series, self._all(sql, (run_pk,)))}
        out: dict[str, SeriesState] = {}
        for clause, params in self._in("path", self._searchable(paths)):
            rows = self._all(f"{sql} AND {clause}", (run_pk, *params))
            out.update({s.path: s for s in map(_series, rows)})
        return out

    def series_of_runs(self, run_pks: Sequence[int]) -> dict[int, dict[str, SeriesState]]:
        out: dict[int, dict[str, SeriesState]] = {pk: {} for pk in run_pks}
        sql = f"SELECT {SERIES_COLUMNS} FROM {self.TABLES.series} WHERE "
        for clause, params in self._in("run_pk", list(run_pks)):
            for state in map(_series, self._all(sql + clause, params)):
                out[state.run_pk][state.path] = state
        return out

    def save_series(self, states: Sequence[SeriesState]) -> None:
        old = [(*s.stats(), s.pk) for s in states if s.pk is not None]
        for s in states:
            if s.pk is None:
                rows = self._all(
                    f"INSERT INTO {self.TABLES.series} (run_pk, path, type, {SERIES_VALUES}) "
                    f"VALUES ({marks(14)}) RETURNING pk",
                    (s.run_pk, s.path, s.type, *s.stats()),
                )
                s.pk = rows[0][0]
        if old:
            self._many(
                f"UPDATE {self.TABLES.series} SET count = ?, first_step = ?, last_step = ?, "
                "last_ts = ?, last_value = ?, finite_count = ?, vmin = ?, vmax = ?, vsum = ?, "
                "vsumsq = ?, has_preview = ? WHERE pk = ?",
                old,
            )

    # float chunks (an engine stores them: ``last_chunk`` and ``put_chunks`` are its own)
    def _chunk_range(
        self, series_pk: int, lo: float | None, hi: float | None
    ) -> tuple[str, list[Any]]:
        """Chunks overlapping [lo, hi], as an index range on (series_pk, first_step): chunks are
        disjoint and sorted, so the first one needed is the last starting at or before ``lo``
        (without this lower bound a database scans every earlier chunk to test last_step)."""
        where, params = _step_range(lo, hi, "first_step", "last_step")
        if lo is not None:
            where += (
                " AND first_step >= coalesce((SELECT max(first_step) FROM "
                f"{self.TABLES.float_chunks} WHERE series_pk = ? AND first_step <= ?), ?)"
            )
            params += [series_pk, lo, lo]
        return where, params

    def chunk_summaries(
        self, series_pk: int, lo: float | None, hi: float | None
    ) -> list[FloatChunk]:
        where, params = self._chunk_range(series_pk, lo, hi)
        sql = (
            f"SELECT {SUMMARY_COLUMNS} FROM {self.TABLES.float_chunks} "
            f"WHERE series_pk = ?{where} ORDER BY first_step"
        )
        return [FloatChunk(*row, *_NO_ARRAYS) for row in self._all(sql, (series_pk, *params))]

    def chunks(
        self, series_pk: int, lo: float | None, hi: float | None, *, timestamps: bool = True
    ) -> list[FloatChunk]:
        where, params = self._chunk_range(series_pk, lo, hi)
        ts = "ts" if timestamps else self.EMPTY_BLOB
        sql = (
            f"SELECT {SUMMARY_COLUMNS}, steps, vals, {ts} FROM {self.CHUNK_SOURCE} "
            f"WHERE series_pk = ?{where} ORDER BY first_step"
        )
        return [loaded_chunk(row) for row in self._all(sql, (series_pk, *params), binary=True)]

    def raw_chunk_keys(
        self, min_count: int, after: tuple[int, float] | None, limit: int
    ) -> list[tuple[int, float]]:
        where, params = "", [float(min_count)]
        if after is not None:
            where = " AND (series_pk, first_step) > (?, ?)"
            params += [after[0], after[1]]
        sql = (
            f"SELECT series_pk, first_step FROM {self.CHUNK_SOURCE} WHERE count >= ? "
            "AND length(steps) = 8 * count AND length(vals) = 8 * count "
            f"AND length(ts) = 8 * count{where} ORDER BY series_pk, first_step LIMIT {int(limit)}"
        )
        return [(int(pk), float(step)) for pk, step in self._all(sql, params)]

    def stored_chunk_bytes(self) -> int:
        sql = (
            "SELECT coalesce(sum(length(steps) + length(vals) + length(ts)), 0) "
            f"FROM {self.CHUNK_SOURCE}"
        )
        return int(self._all(sql)[0][0])

    def chunks_at(
        self, series_pk: int, first_steps: Sequence[float], *, timestamps: bool = False
    ) -> list[FloatChunk]:
        """Chunks by their first step, in step order (an optional primitive readers use when
        present: one statement instead of one per range)."""
        ts = "ts" if timestamps else self.EMPTY_BLOB
        out: list[FloatChunk] = []
        for clause, params in self._in("first_step", sorted(first_steps)):
            sql = (
                f"SELECT {SUMMARY_COLUMNS}, steps, vals, {ts} FROM {self.CHUNK_SOURCE} "
                f"WHERE series_pk = ? AND {clause} ORDER BY first_step"
            )
            rows = self._all(sql, (series_pk, *params), binary=True)
            out.extend(loaded_chunk(row) for row in rows)
        return out

    # points
    def put_points(self, series_pk: int, points: Sequence[Point]) -> None:
        if points:
            self._many(
                upsert(
                    self.TABLES.points,
                    ("series_pk", "is_preview", "step", "ts", "completion", "value"),
                    ("series_pk", "is_preview", "step"),
                ),
                [(series_pk, p.is_preview, p.step, p.ts, p.completion, p.value) for p in points],
            )

    def delete_points(self, series_pk: int, steps: Sequence[float], *, is_preview: bool) -> None:
        if not steps:
            return
        sql = f"DELETE FROM {self.TABLES.points} WHERE series_pk = ? AND is_preview = ? AND "
        for clause, params in self._in("step", list(steps)):
            self._execute(sql + clause, (series_pk, is_preview, *params))

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
        where, params = _step_range(lo, hi, "step", "step")
        if is_preview is not None:
            where += " AND is_preview = ?"
            params.append(is_preview)
        order = "DESC" if descending else "ASC"
        sql = (
            f"SELECT step, ts, value, is_preview, completion FROM {self.TABLES.points} "
            f"WHERE series_pk = ?{where} ORDER BY step {order}, is_preview"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [
            Point(step, ts, value, bool(preview), completion)
            for step, ts, value, preview, completion in self._all(sql, (series_pk, *params))
        ]
