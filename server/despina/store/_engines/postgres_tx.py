"""The PostgreSQL engine's transaction: the shared statements of ``_tx_common`` on a psycopg 3
connection, plus how PostgreSQL stores float chunks (one table, the last chunks cached).

``IN`` lists are one array parameter (``= ANY(%s)``), which has no bound-parameter limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from despina.store._codec import loaded_chunk, stored_arrays
from despina.store._engines.postgres_cache import ChunkCache
from despina.store._model import FloatChunk
from despina.store._tx_common import SUMMARY_COLUMNS, SqlTx, Tables, upsert

__all__ = ["PostgresTx"]

_BULK_ROWS = 64  # from this many rows on, attributes are written as arrays in one statement
_CHUNK_COLUMNS = (*(c.strip() for c in SUMMARY_COLUMNS.split(",")), "steps", "vals", "ts")


def _psycopg(sql: str) -> str:
    """A shared statement in psycopg's placeholder style (no statement holds a literal ``?``
    or ``%``)."""
    return sql.replace("?", "%s")


class PostgresTx(SqlTx):
    TABLES = Tables.prefixed("despina_")
    CHUNK_SOURCE = "despina_float_chunks"
    GREATEST = "GREATEST"
    EMPTY_BLOB = "''::bytea"
    # PostgreSQL text cannot hold NUL; such a name can never have been stored, so a lookup of one
    # finds nothing (the rules reject it before anything is written).
    TEXT_HOLDS_NUL = False

    def __init__(self, conn: Any, cache: ChunkCache | None = None) -> None:
        super().__init__(conn)
        self._cache = cache

    def _all(
        self, sql: str, params: Sequence[Any] = (), *, binary: bool = False
    ) -> list[tuple[Any, ...]]:
        # ``binary`` for the packed arrays: as text, bytea doubles in size (hex) and costs a
        # parse per byte.
        cursor = self._c.execute(_psycopg(sql), params, binary=binary)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._c.execute(_psycopg(sql), params)

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        # executemany pipelines its statements but costs a sync round trip of its own; most
        # calls carry one row (one chunk, one series), which a plain execute sends cheaper.
        if len(rows) == 1:
            self._c.execute(_psycopg(sql), rows[0])
        elif rows:
            self._c.cursor().executemany(_psycopg(sql), rows)

    def put_attributes(self, run_pk: int, values: Mapping[str, tuple[str, str]]) -> None:
        """Many rows as one statement over binary arrays: ``executemany`` costs about 100 µs a
        row; this wrote 20,000 string configs in 1.2 s instead of 2.4 s (whole apply, loaded
        machine; benchmarks/store/bench_slices.py)."""
        if len(values) < _BULK_ROWS:
            super().put_attributes(run_pk, values)
            return
        paths = list(values)
        self._c.execute(
            "INSERT INTO despina_attributes (run_pk, path, type, value) "
            "SELECT %b, * FROM unnest(%b::text[], %b::text[], %b::text[]) "
            "ON CONFLICT (run_pk, path) DO UPDATE SET type = excluded.type, value = excluded.value",
            (run_pk, paths, [values[p][0] for p in paths], [values[p][1] for p in paths]),
        )

    def _in(self, column: str, values: Sequence[Any]) -> list[tuple[str, Sequence[Any]]]:
        return [(f"{column} = ANY(?)", (list(values),))]

    def last_chunk(self, series_pk: int) -> FloatChunk | None:
        if self._cache is None:
            rows = self._all(
                f"SELECT {SUMMARY_COLUMNS}, steps, vals, ts FROM despina_float_chunks "
                "WHERE series_pk = ? ORDER BY first_step DESC LIMIT 1",
                (series_pk,),
                binary=True,
            )
            return loaded_chunk(rows[0]) if rows else None
        bounds = self._all(
            "SELECT first_step, last_step, count FROM despina_float_chunks "
            "WHERE series_pk = ? ORDER BY first_step DESC LIMIT 1",
            (series_pk,),
        )
        if not bounds:
            return None
        cached = self._cache.get(series_pk, *bounds[0])
        if cached is not None:
            return cached
        rows = self._all(
            f"SELECT {SUMMARY_COLUMNS}, steps, vals, ts FROM despina_float_chunks "
            "WHERE series_pk = ? AND first_step = ?",
            (series_pk, bounds[0][0]),
            binary=True,
        )
        chunk = loaded_chunk(rows[0])
        self._cache.put(chunk, read=True)
        return chunk

    def put_chunks(self, chunks: Sequence[FloatChunk]) -> None:
        if not chunks:
            return
        self._many(
            upsert("despina_float_chunks", _CHUNK_COLUMNS, ("series_pk", "first_step")),
            [(*c.summary(), *stored_arrays(c)) for c in chunks],
        )
        if self._cache is not None:
            for chunk in chunks:
                self._cache.put(chunk)
