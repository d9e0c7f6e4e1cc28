"""The SQLite engine's transaction: the shared statements of ``_tx_common`` on a ``sqlite3``
connection, plus how SQLite stores float chunks (summaries and arrays in two tables)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from despina.store._codec import loaded_chunk, stored_arrays
from despina.store._engines.sqlite_schema import pack_summary
from despina.store._model import FloatChunk
from despina.store._tx_common import SUMMARY_COLUMNS, SqlTx, Tables, marks

__all__ = ["SQLiteTx"]

# SQLite allows 32766 bound parameters; stay well below it when expanding IN (...) lists.
_MAX_IN_LIST = 10_000
_SUMMARY_FIELDS = 15  # columns of SUMMARY_COLUMNS, and float64s in the ``packed`` column


class SQLiteTx(SqlTx):
    TABLES = Tables.prefixed("")
    # Summaries and arrays live in two tables (schema v2) so bucket queries read summaries only.
    CHUNK_SOURCE = "float_chunks JOIN float_chunk_data USING (series_pk, first_step)"
    GREATEST = "max"
    EMPTY_BLOB = "x''"
    TEXT_HOLDS_NUL = True

    def _all(
        self, sql: str, params: Sequence[Any] = (), *, binary: bool = False
    ) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._c.execute(sql, params).fetchall()
        return rows

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._c.execute(sql, params)

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._c.executemany(sql, rows)

    def _in(self, column: str, values: Sequence[Any]) -> list[tuple[str, Sequence[Any]]]:
        parts = [values[i : i + _MAX_IN_LIST] for i in range(0, len(values), _MAX_IN_LIST)]
        return [(f"{column} IN ({marks(len(part))})", part) for part in parts or [values]]

    def last_chunk(self, series_pk: int) -> FloatChunk | None:
        rows = self._all(
            f"SELECT {SUMMARY_COLUMNS}, steps, vals, ts FROM {self.CHUNK_SOURCE} "
            "WHERE series_pk = ? ORDER BY first_step DESC LIMIT 1",
            (series_pk,),
        )
        return loaded_chunk(rows[0]) if rows else None

    def put_chunks(self, chunks: Sequence[FloatChunk]) -> None:
        self._many(
            f"INSERT OR REPLACE INTO float_chunks ({SUMMARY_COLUMNS}, packed) "
            f"VALUES ({marks(_SUMMARY_FIELDS + 1)})",
            [(*summary, pack_summary(summary)) for summary in (c.summary() for c in chunks)],
        )
        self._many(
            "INSERT OR REPLACE INTO float_chunk_data (series_pk, first_step, steps, vals, ts) "
            "VALUES (?, ?, ?, ?, ?)",
            [(c.series_pk, c.first_step, *stored_arrays(c)) for c in chunks],
        )

    def chunk_summary_array(
        self, series_pk: int, lo: float | None, hi: float | None
    ) -> npt.NDArray[np.float64]:
        """Summaries as an (n, 15) float array in ``SUMMARY_COLUMNS`` order, NULL as NaN (an
        optional primitive: bucket queries over millions of points use it when present)."""
        where, params = self._chunk_range(series_pk, lo, hi)
        sql = f"SELECT packed FROM float_chunks WHERE series_pk = ?{where} ORDER BY first_step"
        rows = self._all(sql, (series_pk, *params))
        packed = b"".join(row[0] for row in rows)
        array = np.frombuffer(packed, dtype="<f8").astype(np.float64)
        return array.reshape(len(rows), _SUMMARY_FIELDS)
