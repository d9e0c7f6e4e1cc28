"""``Snapshot``: one consistent read of a store, as numpy arrays and plain values (no pandas).

This is the read path: the ``Reader`` builds its DataFrames on it, the web UI draws its charts
from it and the neptune-query API answers from it. A snapshot lives inside one read transaction
(``snapshot(store)``, ``Reader.snapshot()``, or ``Snapshot(tx)`` around a transaction already
open), so everything one request reads is consistent and costs one transaction. Each run's
lineage is read once per snapshot and then serves every series read of that run and its fork
step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from despina.query._buckets import Buckets, buckets, series_extent
from despina.query._details import details_of
from despina.query._points import FloatPoints, ObjectPoints, float_points, object_points
from despina.query._select import (
    RunsArg,
    find_run,
    project_row,
    select_run_ids,
    select_runs,
)
from despina.query._values import RunView, run_views
from despina.store import ProjectRow, RunRow, Segment, Store, Tx, ancestry

__all__ = ["Snapshot", "snapshot"]


@contextmanager
def snapshot(store: Store) -> Iterator[Snapshot]:
    """A `Snapshot` of ``store`` in a read transaction that ends with the block."""
    with store.engine.read() as tx:
        yield Snapshot(tx)


class Snapshot:
    """Reads of one transaction ``tx`` (a ``despina.store.Tx``, kept as ``self.tx``).

    Projects and runs are named as in `Reader` (a custom run id, or the short ``sys/id``);
    unknown ones raise ``ProjectNotFound`` / ``RunNotFound``. Series reads take a ``RunRow``
    (from `run` or `runs`) and, with ``lineage`` (the default), include the ancestors' points
    up to each fork step. Steps are float64, values float64 (or decoded objects), timestamps
    epoch milliseconds (int64).
    """

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self._chains: dict[tuple[int, bool], list[Segment]] = {}
        self._known: dict[int, RunRow] = {}  # runs read so far, so parents cost no query

    # runs
    def project(self, name: str) -> ProjectRow:
        return project_row(self.tx, name)

    def run(self, project: str, run: str) -> RunRow:
        found = find_run(self.tx, project_row(self.tx, project), run)
        self._known[found.pk] = found
        return found

    def runs(
        self,
        project: str,
        runs: RunsArg = None,
        *,
        heads_only: bool = False,
        wanted: Callable[[str], bool] | None = None,
    ) -> list[RunView]:
        """The chosen runs (creation order) with their visible values; see `Reader`'s ``runs``.

        ``wanted``: the paths whose values are decoded (types and series stay complete)."""
        return select_runs(
            self.tx, project_row(self.tx, project), runs, heads_only=heads_only, wanted=wanted
        )

    def run_ids(self, project: str, runs: RunsArg = None) -> list[str]:
        """Custom run ids of the chosen runs, in creation order."""
        return select_run_ids(self.tx, project_row(self.tx, project), runs)

    def run_views(
        self, rows: Sequence[RunRow], known: dict[int, RunRow] | None = None
    ) -> list[RunView]:
        """Views of ``rows`` (lineage included) in a few batch reads; ``known``: runs already
        read, by pk, where parents are looked up first."""
        return run_views(self.tx, rows, {**self._known, **(known or {})})

    def children(self, run: RunRow) -> list[RunRow]:
        """Runs forked from ``run`` in its project (a child stored elsewhere is not shown)."""
        return [c for c in self.tx.children(run.pk) if c.project_pk == run.project_pk]

    def details(self, project: str, run: RunRow) -> dict[str, Any]:
        """``Reader.run_details``' dict of ``run`` (see :mod:`despina.query`)."""
        return details_of(self.tx, project, run)

    # lineage
    def lineage(self, run: RunRow, *, lineage: bool = True) -> list[Segment]:
        """The run, then its ancestors (nearest first), each capped at the fork step below it;
        only the run without ``lineage``. Read once per run and snapshot."""
        key = (run.pk, lineage)
        if key not in self._chains:
            self._chains[key] = ancestry(self.tx, run, lineage=lineage, known=self._known)
        return self._chains[key]

    def fork_step(self, run: RunRow) -> float | None:
        """The step ``run`` was forked at; None for a root run (or a parent not in its project)."""
        chain = self.lineage(run)
        if len(chain) < 2 or math.isinf(chain[1].up_to):
            return None
        return chain[1].up_to

    def series_kind(self, run: RunRow, path: str, *, lineage: bool = True) -> str | None:
        """The stored type of the series ``path`` (``floatSeries``, …) nearest in the lineage."""
        for segment in self.lineage(run, lineage=lineage):
            state = self.tx.series(segment.run.pk, [path]).get(path)
            if state is not None:
                return state.type
        return None

    # series
    def float_points(
        self,
        run: RunRow,
        path: str,
        lo: float | None = None,
        hi: float | None = None,
        *,
        lineage: bool = True,
        previews: bool = False,
        timestamps: bool = True,
    ) -> FloatPoints:
        """Committed points (and previews when asked) with ``lo <= step <= hi``, step order;
        without ``timestamps`` the times are not read (zeros)."""
        return float_points(
            self.tx,
            self.lineage(run, lineage=lineage),
            path,
            lo,
            hi,
            previews=previews,
            timestamps=timestamps,
        )

    def object_points(
        self,
        run: RunRow,
        path: str,
        lo: float | None = None,
        hi: float | None = None,
        *,
        lineage: bool = True,
        previews: bool = False,
    ) -> ObjectPoints:
        """Points of a string, histogram or file series with ``lo <= step <= hi``."""
        chain = self.lineage(run, lineage=lineage)
        return object_points(self.tx, chain, path, lo, hi, previews=previews)

    def extent(self, run: RunRow, path: str, *, lineage: bool = True) -> tuple[float, float] | None:
        """First and last committed step of the float series, None when it has no points."""
        return series_extent(self.tx, self.lineage(run, lineage=lineage), path)

    def buckets(
        self,
        run: RunRow,
        path: str,
        lo: float | None,
        hi: float | None,
        count: int,
        *,
        lineage: bool = True,
    ) -> Buckets | None:
        """Aggregates over ``count`` equal step ranges of [lo, hi], read from chunk summaries
        where a chunk lies inside one range. A None bound is the series' own first / last step;
        then None when the series has no points."""
        if count < 1:
            raise ValueError(f"count must be at least 1 bucket, got {count}")
        chain = self.lineage(run, lineage=lineage)
        if lo is None or hi is None:
            found = series_extent(self.tx, chain, path)
            if found is None:
                return None
            lo = found[0] if lo is None else lo
            hi = found[1] if hi is None else hi
        return buckets(self.tx, chain, path, lo, hi, count)
