"""Everything the UI reads, through the public read API (`despina.query.Reader`).

This is the one module that knows the Reader's shapes; the rest of the UI works on what it
returns here: plain dicts ready for JSON, numpy arrays for chart data. Unknown projects, runs and
files come out as `NotFound`.
"""

from __future__ import annotations

import math
import mimetypes
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pandas as pd

from despina.ui._cache import ExpiringCache
from despina.ui._values import json_value

__all__ = ["MAX_SERIES_PAGE", "BadFilePath", "Buckets", "NotFound", "Points", "UiSource"]

MAX_SERIES_PAGE = 10_000  # string-series lines / histograms in one answer
MAX_CHILDREN_SHOWN = 200  # a run page lists at most this many forks of the run
MAX_FILE_SERIES_SHOWN = 100  # latest files of a file series listed on the run page
LINEAGE_CACHE_RUNS = 10_000  # fork points never change, so they are remembered
RUNS_TABLE_TTL_S = 10.0  # paging / sorting / filtering within this reuse one table read
RUNS_TABLE_ENTRIES = 16
BUCKETS_TTL_S = 30.0  # reopening a chart; its live updates fetch what is newer
BUCKETS_ENTRIES = 512
FILE_SERIES = "file_series"
FLOAT_SERIES, STRING_SERIES, HISTOGRAM_SERIES = "float_series", "string_series", "histogram_series"


class NotFound(LookupError):
    """No such project, run or file; the message names which."""


class BadFilePath(ValueError):
    """A file path that cannot name a stored file (absolute, '..', NUL, too long)."""


@dataclass(frozen=True)
class Buckets:
    """Equal step ranges of one series: per range the last finite point, min, max and count."""

    to_step: np.ndarray[Any, Any]
    last_step: np.ndarray[Any, Any]
    last: np.ndarray[Any, Any]
    vmin: np.ndarray[Any, Any]
    vmax: np.ndarray[Any, Any]
    count: np.ndarray[Any, Any]


@dataclass(frozen=True)
class Points:
    step: np.ndarray[Any, Any]
    value: np.ndarray[Any, Any]
    time_ms: np.ndarray[Any, Any] | None = None


@contextmanager
def _not_found() -> Iterator[None]:
    from despina.store import ProjectNotFound, RunNotFound, StoredFileNotFound

    try:
        yield
    except (ProjectNotFound, RunNotFound, StoredFileNotFound) as error:
        raise NotFound(str(error)) from error


class UiSource:
    """The UI's view of one store (a `despina.store.Store` or its location)."""

    def __init__(self, store: Any) -> None:
        # A store, its location, or a function giving the store once it is open (a server
        # opens its store when it starts, after its routes were made).
        self._store = store
        self._opened: Any = None
        self._opening = threading.Lock()
        self._fork_steps: dict[tuple[str, str], float | None] = {}
        self._tables: ExpiringCache[pd.DataFrame] = ExpiringCache(
            RUNS_TABLE_TTL_S, RUNS_TABLE_ENTRIES
        )
        self._buckets: ExpiringCache[Buckets | None] = ExpiringCache(BUCKETS_TTL_S, BUCKETS_ENTRIES)

    @property
    def _reader(self) -> Any:
        with self._opening:
            if self._opened is None:
                from despina.query import Reader

                from_callable = callable(self._store) and not hasattr(self._store, "apply")
                self._opened = Reader(self._store() if from_callable else self._store)
        return self._opened

    def projects(self) -> list[str]:
        return sorted(self._reader.list_projects())

    def attributes(self, project: str) -> list[tuple[str, str]]:
        with _not_found():
            types = self._reader.attribute_types(project)
        return sorted(types.items())

    def runs_table(self, project: str, columns: list[str]) -> pd.DataFrame:
        """One row per run (creation order), a column per name in ``columns``; do not modify."""
        key = (project, tuple(sorted(set(columns))))
        return self._tables.get_or_compute(key, lambda: self._read_table(project, key[1]))

    def _read_table(self, project: str, columns: tuple[str, ...]) -> pd.DataFrame:
        with _not_found():
            table = self._reader.fetch_runs_table(
                project, None, list(columns), sort_direction="asc"
            )
        table = table.reset_index()
        table["sys/custom_run_id"] = table["run"]
        return table

    def run_details(self, project: str, run: str) -> dict[str, Any]:
        """The run page's JSON: facts, configs, lineage, series by kind, files."""
        with _not_found():
            details = self._reader.run_details(project, run)
        lineage = details["lineage"]
        self._fork_steps[(project, run)] = lineage["fork_step"]
        series = details["series"]
        by_kind = {
            kind: [p for p, s in series.items() if s["type"] == kind]
            for kind in (FLOAT_SERIES, STRING_SERIES, HISTOGRAM_SERIES, FILE_SERIES)
        }
        configs = [
            {"name": p, "value": json_value(v)}
            for p, v in details["configs"].items()
            if not _is_file_ref(v)
        ]
        files = [_file_entry(p, None, v) for p, v in details["configs"].items() if _is_file_ref(v)]
        files += self._file_series(project, details["run_id"], by_kind[FILE_SERIES])
        parent = lineage["parent"]
        return {
            "run": details["run_id"],
            "sys_id": details["sys_id"],
            "experiment": details["experiment"],
            "created": json_value(details["creation_time"]),
            "modified": json_value(details["modification_time"]),
            "tags": details["tags"],
            "group_tags": details["group_tags"],
            "parent": None if parent is None else {"run": parent, "step": lineage["fork_step"]},
            "ancestors": lineage["ancestors"],
            "children": [
                {"run": child, "step": self.fork_step(project, child)}
                for child in lineage["children"][:MAX_CHILDREN_SHOWN]
            ],
            "configs": configs,
            "metrics": by_kind[FLOAT_SERIES],
            "string_series": by_kind[STRING_SERIES],
            "histogram_series": by_kind[HISTOGRAM_SERIES],
            "files": files,
        }

    def _file_series(self, project: str, run: str, paths: list[str]) -> list[dict[str, Any]]:
        if not paths:
            return []
        frame = self._reader.fetch_series(project, [run], paths, tail_limit=MAX_FILE_SERIES_SHOWN)
        out = []
        for path in paths:
            if path in frame:
                for (_, step), ref in frame[path].dropna().items():
                    out.append(_file_entry(path, float(step), ref))
        return out

    def fork_step(self, project: str, run: str) -> float | None:
        """The step ``run`` was forked at (None for a root run)."""
        key = (project, run)
        if key not in self._fork_steps:
            with _not_found():
                details = self._reader.run_details(project, run)
            if len(self._fork_steps) >= LINEAGE_CACHE_RUNS:
                self._fork_steps.clear()
            self._fork_steps[key] = details["lineage"]["fork_step"]
        return self._fork_steps[key]

    def buckets(
        self, project: str, run: str, attribute: str, lo: float | None, hi: float | None, count: int
    ) -> Buckets | None:
        """``count`` equal step ranges over [lo, hi] (None = the series' own extent)."""
        key = (project, run, attribute, lo, hi, count)
        return self._buckets.get_or_compute(
            key, lambda: self._read_buckets(project, run, attribute, lo, hi, count)
        )

    def _read_buckets(
        self, project: str, run: str, attribute: str, lo: float | None, hi: float | None, count: int
    ) -> Buckets | None:
        with _not_found():
            frame = self._reader.fetch_metric_buckets(
                project, [run], [attribute], limit=count, x_range=(lo, hi)
            )
        if frame.empty:
            return None
        return Buckets(
            to_step=frame["to_step"].to_numpy(dtype=np.float64),
            last_step=frame["last_step"].to_numpy(dtype=np.float64),
            last=frame["last_value"].to_numpy(dtype=np.float64),
            vmin=frame["min"].to_numpy(dtype=np.float64),
            vmax=frame["max"].to_numpy(dtype=np.float64),
            count=frame["count"].to_numpy(dtype=np.int64),
        )

    def points(
        self,
        project: str,
        run: str,
        attribute: str,
        lo: float | None,
        hi: float | None,
        *,
        with_time: bool = False,
        limit: int | None = None,
    ) -> Points | None:
        """The points of [lo, hi] with lineage (``limit`` keeps the last ones)."""
        with _not_found():
            frame = self._reader.fetch_metrics(
                project,
                [run],
                [attribute],
                step_range=(lo, hi),
                tail_limit=limit,
                include_time="absolute" if with_time else None,
            )
        if frame.empty:
            return None
        steps = frame.index.get_level_values("step").to_numpy(dtype=np.float64)
        if not with_time:
            return Points(steps, frame[attribute].to_numpy(dtype=np.float64))
        times = frame[(attribute, "absolute_time")]
        time_ms = ((times - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(milliseconds=1)).to_numpy()
        values = frame[(attribute, "value")].to_numpy(dtype=np.float64)
        return Points(steps, values, np.asarray(time_ms, dtype=np.float64))

    def series_page(
        self, project: str, run: str, attribute: str, after: float | None, limit: int, *, tail: bool
    ) -> dict[str, Any]:
        """Points of a string / histogram / file series after step ``after`` (or the last ones)."""
        with _not_found():
            frame = self._reader.fetch_series(
                project,
                [run],
                [attribute],
                step_range=(after, None),
                tail_limit=limit if tail else None,
                include_time="absolute",
            )
        if frame.empty:
            return {"points": [], "more": False}
        values = frame[(attribute, "value")]
        times = frame[(attribute, "absolute_time")]
        points = []
        for (_, step), value, time in zip(values.index, values, times, strict=True):
            if (after is not None and step <= after) or _absent(value):
                continue
            points.append(
                {"step": float(step), "time": json_value(time), "value": json_value(value)}
            )
        return {"points": points[:limit], "more": len(points) > limit}

    def open_file(self, project: str, path: str) -> tuple[IO[bytes], int | None, str]:
        """The stored bytes of ``path``, their size when known and a MIME type."""
        try:
            with _not_found():
                stream = self._reader.store.open_file(project, path)
        except ValueError as error:  # the store's check, which names the path and the rule
            raise BadFilePath(f"path: {error}") from error
        try:
            size: int | None = os.fstat(stream.fileno()).st_size
        except (AttributeError, OSError, ValueError):
            size = None
        mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return stream, size, mime


def _file_entry(path: str, step: float | None, ref: Any) -> dict[str, Any]:
    ref = ref if isinstance(ref, dict) else {}
    return {
        "name": path,
        "step": step,
        "path": ref.get("path", ""),
        "size": ref.get("size_bytes"),
        "mime": ref.get("mime_type"),
    }


def _is_file_ref(value: Any) -> bool:
    """File attributes read as ``{"path", "size_bytes", "mime_type"}``; no other value is a dict."""
    return isinstance(value, dict) and "path" in value and "size_bytes" in value


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
