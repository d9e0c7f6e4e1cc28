"""One UI request's reads of runs and series, straight from `despina.query.Snapshot` arrays.

A request (a chart of up to 20 runs, a run page, a compare page) reads in one snapshot, opened
at its first read that no cache answers, so a chart costs one read transaction, and none when
its buckets and fork steps are cached. Fork steps come from the lineage the series reads use.
"""

from __future__ import annotations

import datetime as dt
import math
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from despina.ui._values import json_value

if TYPE_CHECKING:
    from despina.query import Buckets, Reader, Snapshot
    from despina.store import RunRow
    from despina.ui._cache import ExpiringCache

__all__ = ["Points", "UiCaches", "UiRead"]

MAX_CHILDREN_SHOWN = 200  # a run page lists at most this many forks of the run
MAX_FILE_SERIES_SHOWN = 100  # latest files of a file series listed on the run page
LINEAGE_CACHE_RUNS = 10_000  # fork points never change, so they are remembered
FILE_SERIES = "file_series"
FLOAT_SERIES, STRING_SERIES, HISTOGRAM_SERIES = "float_series", "string_series", "histogram_series"
_OBJECT_SERIES = {"stringSeries", "histogramSeries", "fileRefSeries"}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Points:
    step: np.ndarray[Any, Any]
    value: np.ndarray[Any, Any]
    time_ms: np.ndarray[Any, Any] | None = None  # NaN where a stored time cannot be shown


@dataclass
class UiCaches:
    """What outlives a request: fork steps (they never change) and recent buckets."""

    fork_steps: dict[tuple[str, str], float | None]
    buckets: ExpiringCache[Buckets | None]


class UiRead:
    """Reads of one project for one request; use inside ``UiSource.read``."""

    def __init__(self, reader: Reader, caches: UiCaches, project: str, stack: ExitStack) -> None:
        self._reader, self._caches, self.project, self._stack = reader, caches, project, stack
        self._opened: Snapshot | None = None

    @property
    def snap(self) -> Snapshot:
        if self._opened is None:
            self._opened = self._stack.enter_context(self._reader.snapshot())
        return self._opened

    def _find(self, run: str) -> RunRow | None:
        """The run, None when the project has no such run (an unknown project raises)."""
        from despina.store import RunNotFound

        try:
            return self.snap.run(self.project, run)
        except RunNotFound:
            return None

    def fork_step(self, run: str) -> float | None:
        """The step ``run`` was forked at (None for a root run); RunNotFound when unknown."""
        key = (self.project, run)
        if key not in self._caches.fork_steps:
            step = self.snap.fork_step(self.snap.run(self.project, run))
            if len(self._caches.fork_steps) >= LINEAGE_CACHE_RUNS:
                self._caches.fork_steps.clear()
            self._caches.fork_steps[key] = step
        return self._caches.fork_steps[key]

    def buckets(
        self, run: str, attribute: str, lo: float | None, hi: float | None, count: int
    ) -> Buckets | None:
        """``count`` equal step ranges over [lo, hi] (None = the series' own extent)."""

        def read() -> Buckets | None:
            row = self._find(run)
            return None if row is None else self.snap.buckets(row, attribute, lo, hi, count)

        key = (self.project, run, attribute, lo, hi, count)
        return self._caches.buckets.get_or_compute(key, read)

    def points(
        self,
        run: str,
        attribute: str,
        lo: float | None,
        hi: float | None,
        *,
        with_time: bool = False,
        limit: int | None = None,
    ) -> Points | None:
        """The points of [lo, hi] with lineage (``limit`` keeps the last ones)."""
        row = self._find(run)
        if row is None:
            return None
        found = self.snap.float_points(row, attribute, lo, hi, timestamps=with_time).tail(limit)
        if not len(found):
            return None
        if not with_time:
            return Points(found.steps, found.values)
        from despina.query import readable_ms

        return Points(found.steps, found.values, readable_ms(found.timestamps))

    def series_page(
        self, run: str, attribute: str, after: float | None, limit: int, *, tail: bool
    ) -> dict[str, Any]:
        """Points of a string / histogram / file series after step ``after`` (or the last ones)."""
        row = self._find(run)
        if row is None or self.snap.series_kind(row, attribute) not in _OBJECT_SERIES:
            return {"points": [], "more": False}
        found = self.snap.object_points(row, attribute, after, None).tail(limit if tail else None)
        points = []
        for step, value, ms in zip(found.steps, found.values, found.timestamps, strict=True):
            if (after is not None and step <= after) or _absent(value):
                continue
            time = json_value(_time(ms))
            points.append({"step": float(step), "time": time, "value": json_value(value)})
        return {"points": points[:limit], "more": len(points) > limit}

    def run_details(self, run: str) -> dict[str, Any]:
        """The run page's JSON: facts, configs, lineage, series by kind, files."""
        row = self.snap.run(self.project, run)
        details = self.snap.details(self.project, row)
        lineage = details["lineage"]
        self._caches.fork_steps[(self.project, run)] = lineage["fork_step"]
        series = details["series"]
        by_kind = {
            kind: [p for p, s in series.items() if s["type"] == kind]
            for kind in (FLOAT_SERIES, STRING_SERIES, HISTOGRAM_SERIES, FILE_SERIES)
        }
        configs = details["configs"]
        files = [_file_entry(p, None, v) for p, v in configs.items() if _is_file_ref(v)]
        files += self._file_series(row, by_kind[FILE_SERIES])
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
                {"run": child.custom_id, "step": self.snap.fork_step(child)}
                for child in self.snap.children(row)[:MAX_CHILDREN_SHOWN]
            ],
            "configs": [
                {"name": p, "value": json_value(v)}
                for p, v in configs.items()
                if not _is_file_ref(v)
            ],
            "metrics": by_kind[FLOAT_SERIES],
            "string_series": by_kind[STRING_SERIES],
            "histogram_series": by_kind[HISTOGRAM_SERIES],
            "files": files,
        }

    def _file_series(self, row: RunRow, paths: list[str]) -> list[dict[str, Any]]:
        out = []
        for path in paths:
            found = self.snap.object_points(row, path).tail(MAX_FILE_SERIES_SHOWN)
            for step, ref in zip(found.steps, found.values, strict=True):
                if not _absent(ref):
                    out.append(_file_entry(path, float(step), ref))
        return out


def _time(ms: int) -> dt.datetime | None:
    """A stored time as readers show it (None where they cannot: see ``readable_ms``)."""
    from despina.query import readable_ms

    if math.isnan(readable_ms([ms])[0]):
        return None
    return _EPOCH + dt.timedelta(milliseconds=int(ms))


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
