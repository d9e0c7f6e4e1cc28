"""The storage primitives an engine provides; every rule lives above them, in engine-free Python.

An engine (SQLite here, PostgreSQL in the server part) implements :class:`Engine` and the
:class:`Tx` it hands out. It stores and returns rows (see ``_model``) and never decides anything:
validation, ingest codes, lineage, head flags and aggregates are computed by ``_apply`` and
``_series``. To add an engine: implement these two protocols (a SQL engine's Tx extends
``_tx_common.SqlTx``, which holds every statement the dialects share), register the URL scheme in
``_store.open_store`` and add one line to the parametrization of ``tests/server/store/conftest.py``
— the conformance suite then runs every rule against it.

Contract: ``write()`` is one serialized write transaction (other writers wait, in turns: a writer
that releases the lock and asks again queues behind those already waiting; a busy timeout
applies), durable when the ``with`` block exits normally and rolled back when it raises.
``read()`` is a consistent snapshot. Ranges ``lo``/``hi`` are inclusive; None means open.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from despina.store._model import FloatChunk, NewRun, Point, ProjectRow, RunRow, SeriesState

__all__ = ["Engine", "Tx"]

# (type name, JSON text of the value) — see _model.encode_value.
TypedValue = tuple[str, str]


class Tx(Protocol):
    """One transaction. Methods are storage primitives only."""

    # projects
    def projects(self) -> list[ProjectRow]: ...
    def project(self, name: str) -> ProjectRow | None: ...
    def insert_project(self, name: str, key: str) -> ProjectRow: ...
    def next_run_number(self, project_pk: int) -> int:
        """Increment the project's run counter and return the new value (1, 2, …)."""
        ...

    # runs
    def run(self, project_pk: int, custom_id: str) -> RunRow | None: ...
    def run_by_pk(self, pk: int) -> RunRow | None: ...
    def run_by_short_id(self, project_pk: int, short_id: str) -> RunRow | None: ...
    def runs(self, project_pk: int) -> list[RunRow]: ...
    def children(self, run_pk: int) -> list[RunRow]: ...
    def experiment_runs(self, project_pk: int, experiment: str) -> list[RunRow]: ...
    def insert_run(self, run: NewRun) -> RunRow: ...
    def set_heads(self, flags: Mapping[int, bool]) -> None: ...
    def touch_run(self, run_pk: int, modification_ms: int) -> None: ...

    # scalar attributes and string sets: path -> (type, JSON value)
    def attributes(
        self, run_pk: int, paths: Collection[str] | None = None
    ) -> dict[str, TypedValue]: ...
    def attributes_of_runs(self, run_pks: Sequence[int]) -> dict[int, dict[str, TypedValue]]: ...
    def put_attributes(self, run_pk: int, values: Mapping[str, TypedValue]) -> None: ...

    # series states
    def series(
        self, run_pk: int, paths: Collection[str] | None = None
    ) -> dict[str, SeriesState]: ...
    def series_of_runs(self, run_pks: Sequence[int]) -> dict[int, dict[str, SeriesState]]: ...
    def save_series(self, states: Sequence[SeriesState]) -> None:
        """Insert (``pk`` None; the engine sets ``pk``) or update the states."""
        ...

    # float points, in chunks keyed by (series_pk, first_step)
    def last_chunk(self, series_pk: int) -> FloatChunk | None: ...
    def put_chunks(self, chunks: Sequence[FloatChunk]) -> None:
        """Insert, replacing a chunk with the same (series_pk, first_step)."""
        ...

    def chunk_summaries(
        self, series_pk: int, lo: float | None, hi: float | None
    ) -> list[FloatChunk]:
        """Chunks overlapping [lo, hi] in step order, with empty arrays."""
        ...

    def raw_chunk_keys(
        self, min_count: int, after: tuple[int, float] | None, limit: int
    ) -> list[tuple[int, float]]:
        """(series_pk, first_step), in that order and after ``after``, of up to ``limit`` chunks
        of at least ``min_count`` points whose three arrays are all stored raw (written before
        the codec, ``_codec``, or, rarely, incompressible)."""
        ...

    def stored_chunk_bytes(self) -> int:
        """Bytes of all stored chunk arrays (steps, values and timestamps)."""
        ...

    def chunks(
        self, series_pk: int, lo: float | None, hi: float | None, *, timestamps: bool = True
    ) -> list[FloatChunk]:
        """Chunks overlapping [lo, hi] in step order (``timestamps`` False leaves them empty)."""
        ...

    # points of non-float series and previews of every series
    def put_points(self, series_pk: int, points: Sequence[Point]) -> None:
        """Insert, replacing a point with the same (step, is_preview)."""
        ...

    def delete_points(
        self, series_pk: int, steps: Sequence[float], *, is_preview: bool
    ) -> None: ...
    def points(
        self,
        series_pk: int,
        lo: float | None,
        hi: float | None,
        *,
        is_preview: bool | None = False,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[Point]: ...


class Engine(Protocol):
    """A database behind one store."""

    description: str  # for messages: the file or URL (without credentials)

    def write(self) -> AbstractContextManager[Tx]: ...
    def read(self) -> AbstractContextManager[Tx]: ...
    def close(self) -> None: ...
