"""The ``Reader``: every read of a store, as pandas DataFrames and plain dicts.

Each method reads through one `Snapshot` (one read transaction) and only shapes its arrays and
values into DataFrames.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from despina._patterns import compile_pattern
from despina.query import _frames
from despina.query._gc import gc_paused
from despina.query._select import RunsArg, match_names
from despina.query._snapshot import Snapshot, snapshot
from despina.query._values import TYPE_NAMES, RunView
from despina.store import Store, open_store
from despina.store.transport import DELIVER_BUDGET_S, Pending, deliver_left_behind, local_folder

__all__ = ["Reader"]

Attributes = str | Sequence[str] | None
StepRange = tuple[float | None, float | None]
DEFAULT_BUCKETS = 1000
_OBJECT_SERIES = {"stringSeries", "histogramSeries", "fileRefSeries"}

logger = logging.getLogger("despina")


class Reader:
    """Reads one store: ``Reader(".neptune")``, ``Reader("postgresql://…")`` or ``Reader(store)``.

    Opening a location never creates a store (StoreNotFound). Unknown projects raise
    ProjectNotFound, unknown runs (where one run is named) RunNotFound.

    Opening an embedded store's folder first delivers the run logs that processes killed
    before delivering them left in its ``runs/`` (see ``despina.store.transport``; at most
    ``deliver_s`` seconds, 0 to skip); ``pending`` says what was delivered and what is left.
    """

    def __init__(
        self,
        location_or_store: str | os.PathLike[str] | Store,
        *,
        deliver_s: float | None = DELIVER_BUDGET_S,
    ) -> None:
        self.pending: Pending | None = None
        if isinstance(location_or_store, Store):
            self.store, self._owned = location_or_store, False
            return
        self.store, self._owned = open_store(location_or_store, create=False), True
        folder = local_folder(location_or_store)
        if folder is not None and deliver_s != 0:
            self.pending = deliver_left_behind(folder, deliver_s)
            for level, text in self.pending.messages():
                logger.log(level, "%s", text)

    def close(self) -> None:
        if self._owned:
            self.store.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def snapshot(self) -> AbstractContextManager[Snapshot]:
        """A `Snapshot` of the store: array-level reads in one read transaction."""
        return snapshot(self.store)

    # listings
    def list_projects(self) -> list[str]:
        with self.snapshot() as snap:
            return [p.name for p in snap.tx.projects()]

    def list_experiments(self, project: str, experiments: str | None = None) -> list[str]:
        """Names of experiments (of their head runs), sorted; ``experiments`` is a regex."""
        with self.snapshot() as snap:
            rows = snap.tx.runs(snap.project(project).pk)
        names = {r.experiment for r in rows if r.is_head and r.experiment}
        return match_names(sorted(names), experiments, "experiments")

    def list_runs(self, project: str, runs: RunsArg = None) -> list[str]:
        """Custom run ids, in creation order."""
        with self.snapshot() as snap:
            return snap.run_ids(project, runs)

    def list_attributes(
        self, project: str, runs: RunsArg = None, attributes: str | None = None
    ) -> list[str]:
        """Attribute names (sys/ included, inherited series included) of the runs, sorted."""
        return sorted(self.attribute_types(project, runs, attributes))

    def attribute_types(
        self, project: str, runs: RunsArg = None, attributes: str | None = None
    ) -> dict[str, str]:
        """Attribute name -> type (``float_series``, ``string``, …) over the chosen runs."""
        with self.snapshot() as snap:
            found: dict[str, str] = {}
            for view in snap.runs(project, runs, wanted=_no_values):
                for path, kind in view.types.items():
                    found.setdefault(path, TYPE_NAMES.get(kind, kind))
        return {name: found[name] for name in match_names(list(found), attributes)}

    # tables
    def fetch_runs_table(
        self,
        project: str,
        runs: RunsArg = None,
        attributes: Attributes = None,
        *,
        sort_by: str = "sys/creation_time",
        sort_direction: str = "desc",
        limit: int | None = None,
        heads_only: bool = False,
        type_suffix_in_column_names: bool = False,
    ) -> pd.DataFrame:
        """One row per run, index ``run`` (custom run id); a column per attribute.

        ``attributes``: a list of names (in that order), a regex, or None = every attribute not
        under ``sys/``. Series show their last value (inherited ones included). Missing = NaN/None.
        Rows sorted by ``sort_by`` (runs lacking it last); ``heads_only`` keeps experiment heads.
        """
        with gc_paused():  # a table of 10,000 runs is many small objects that stay: see _gc
            return self._table(
                project,
                runs,
                attributes,
                (sort_by, sort_direction),
                limit,
                heads_only,
                type_suffix_in_column_names,
            )

    def _table(
        self,
        project: str,
        runs: RunsArg,
        attributes: Attributes,
        sort: tuple[str, str],
        limit: int | None,
        heads_only: bool,
        type_suffix_in_column_names: bool,
    ) -> pd.DataFrame:
        sort_by, sort_direction = sort
        with self.snapshot() as snap:
            views = snap.runs(
                project, runs, heads_only=heads_only, wanted=_columns(attributes, sort_by)
            )
        names: dict[str, str] = {}
        for view in views:
            # Runs mostly share their paths: look at a run's paths only when it has a new one.
            if not names.keys() >= view.types.keys():
                for path, kind in view.types.items():
                    names.setdefault(path, TYPE_NAMES.get(kind, kind))
        if attributes is None:
            chosen = sorted(n for n in names if not n.startswith("sys/"))
        else:
            chosen = match_names(list(names), attributes)
            if not isinstance(attributes, str):  # asked for by name: keep even when absent
                chosen = list(dict.fromkeys(attributes))
        views = _sorted(views, sort_by, sort_direction)[:limit]
        rows = [[v.values.get(a) for a in chosen] for v in views]
        columns = [
            f"{a}:{names[a]}" if type_suffix_in_column_names and a in names else a for a in chosen
        ]
        index = pd.Index([v.run.custom_id for v in views], name="run")
        return pd.DataFrame(rows, index=index, columns=columns)

    def run_details(self, project: str, run: str) -> dict[str, Any]:
        """One run; see :mod:`despina.query` for the keys."""
        with self.snapshot() as snap:
            return snap.details(project, snap.run(project, run))

    # series
    def fetch_metrics(
        self,
        project: str,
        runs: RunsArg = None,
        attributes: Attributes = None,
        *,
        step_range: StepRange = (None, None),
        tail_limit: int | None = None,
        lineage_to_the_root: bool = True,
        include_time: str | None = None,
        include_point_previews: bool = False,
    ) -> pd.DataFrame:
        """Float series points: index (``run``, ``step``), one column per attribute.

        With ``include_time="absolute"`` and/or ``include_point_previews`` the columns become
        (attribute, field) pairs: ``value``, ``absolute_time`` (UTC), ``is_preview``,
        ``preview_completion``. ``step_range`` is inclusive (None = open); ``tail_limit`` keeps the
        last N points per series; lineage adds ancestors' points up to each fork step.
        """
        lo, hi = step_range
        parts = []
        with self.snapshot() as snap:
            for view, path in _pairs(snap.runs(project, runs), attributes, {"floatSeries"}):
                cols = snap.float_points(
                    view.run,
                    path,
                    lo,
                    hi,
                    lineage=lineage_to_the_root,
                    previews=include_point_previews,
                    timestamps=include_time is not None,
                )
                parts.append((view.run.custom_id, path, cols.tail(tail_limit)))
        return _frames.points_frame(
            parts, include_time=include_time is not None, previews=include_point_previews
        )

    def fetch_series(
        self,
        project: str,
        runs: RunsArg = None,
        attributes: Attributes = None,
        *,
        step_range: StepRange = (None, None),
        tail_limit: int | None = None,
        lineage_to_the_root: bool = True,
        include_time: str | None = None,
    ) -> pd.DataFrame:
        """String, histogram and file series, shaped like :meth:`fetch_metrics` (object values:
        ``str``, histogram dicts, file dicts)."""
        lo, hi = step_range
        parts: list[Any] = []
        with self.snapshot() as snap:
            for view, path in _pairs(snap.runs(project, runs), attributes, _OBJECT_SERIES):
                cols = snap.object_points(view.run, path, lo, hi, lineage=lineage_to_the_root)
                parts.append((view.run.custom_id, path, cols.tail(tail_limit)))
        return _frames.points_frame(parts, include_time=include_time is not None, previews=False)

    def fetch_metric_buckets(
        self,
        project: str,
        runs: RunsArg = None,
        attributes: Attributes = None,
        *,
        limit: int = DEFAULT_BUCKETS,
        x_range: StepRange = (None, None),
        lineage_to_the_root: bool = True,
    ) -> pd.DataFrame:
        """Downsampled float series: ``limit`` equal step ranges over ``x_range`` (default: from
        the first to the last step of all chosen series), one row per (run, attribute, bucket)
        with columns ``despina.query.BUCKET_COLUMNS``; first/last/min/max cover finite values."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1 bucket, got {limit}")
        tables = []
        lineage = lineage_to_the_root
        with self.snapshot() as snap:
            pairs = _pairs(snap.runs(project, runs), attributes, {"floatSeries"})
            lo, hi = x_range
            if lo is None or hi is None:  # one range over all the series, so rows line up
                extents = [snap.extent(v.run, p, lineage=lineage) for v, p in pairs]
                found = [e for e in extents if e is not None]
                if not found:
                    return _frames.bucket_frame([])
                lo = min(e[0] for e in found) if lo is None else lo
                hi = max(e[1] for e in found) if hi is None else hi
            for view, path in pairs:
                table = snap.buckets(view.run, path, lo, hi, limit, lineage=lineage)
                assert table is not None  # both bounds are given
                tables.append((view.run.custom_id, path, table))
        return _frames.bucket_frame(tables)

    def download_files(
        self, project: str, runs: RunsArg, attributes: Attributes, destination: str | Path
    ) -> pd.DataFrame:
        """Copy stored files (file attributes and file series) to ``destination/<stored path>``.

        Returns one row per file: ``run``, ``attribute``, ``step`` (NaN for a file attribute),
        ``path`` (the local copy, None when the bytes were never uploaded).
        """
        rows = []
        target_root = Path(destination)
        with self.snapshot() as snap:
            views = snap.runs(project, runs)
            for view, path in _pairs(views, attributes, {"fileRef", "fileRefSeries"}):
                refs = [(math.nan, view.values[path])] if view.types[path] == "fileRef" else []
                if view.types[path] == "fileRefSeries":
                    cols = snap.object_points(view.run, path)
                    refs = list(zip(cols.steps, cols.values, strict=True))
                for step, ref in refs:
                    rows.append(
                        (view.run.custom_id, path, step, self._copy(project, ref, target_root))
                    )
        return pd.DataFrame(rows, columns=["run", "attribute", "step", "path"])

    def _copy(self, project: str, ref: dict[str, Any], root: Path) -> str | None:
        target = root / ref["path"]
        try:
            with self.store.open_file(project, ref["path"]) as src:
                target.parent.mkdir(parents=True, exist_ok=True)
                with target.open("wb") as out:
                    shutil.copyfileobj(src, out)
        except FileNotFoundError:
            return None
        return str(target)


def _no_values(path: str) -> bool:
    """Only names and types are needed (a Filter still sees every value)."""
    return False


def _columns(attributes: Attributes, sort_by: str) -> Callable[[str], bool]:
    """The paths a runs table shows (as ``match_names`` chooses them) and sorts by."""
    if attributes is None:
        return lambda path: path == sort_by or not path.startswith("sys/")
    if isinstance(attributes, str):
        pattern = compile_pattern(attributes, "attributes")
        return lambda path: path == sort_by or pattern.search(path)
    return {*attributes, sort_by}.__contains__


def _pairs(
    views: list[RunView], attributes: Attributes, kinds: set[str]
) -> list[tuple[RunView, str]]:
    out = []
    for view in views:
        names = [p for p, k in view.types.items() if k in kinds]
        for path in match_names(names, attributes):
            out.append((view, path))
    return out


def _sorted(views: list[RunView], key: str, direction: str) -> list[RunView]:
    if direction not in ("asc", "desc"):
        raise ValueError(f"sort_direction must be 'asc' or 'desc', got {direction!r}")
    have = [v for v in views if _sortable(v.values.get(key))]
    lacking = [v for v in views if not _sortable(v.values.get(key))]
    try:
        have.sort(key=lambda v: v.values[key], reverse=direction == "desc")
    except TypeError:  # mixed types: compare as text
        have.sort(key=lambda v: str(v.values[key]), reverse=direction == "desc")
    return have + lacking


def _sortable(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))
