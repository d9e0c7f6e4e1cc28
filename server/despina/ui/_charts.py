"""Chart data: one metric of several runs, cut to about one entry per pixel of the chart.

While a range holds no more points than the chart has pixels, the exact points go out. Beyond
that, x is cut into one equal range per ``PX_PER_BUCKET`` pixels and each non-empty range sends
its last value (the line) and its min and max (the band), so a one-step spike stays visible
however far out the chart is zoomed. Step ranges come aggregated from the read API; for
x = time the points are cut here, by equal time ranges. A chart reads all its runs in one
snapshot of the store (``UiSource.read``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from despina.ui._read import Points, UiRead
from despina.ui._source import UiSource
from despina.ui._values import finite_list

__all__ = [
    "MAX_RUNS_PER_CHART",
    "MAX_TAIL_POINTS",
    "MAX_WIDTH_PX",
    "MIN_WIDTH_PX",
    "ChartRequest",
    "ChartTooLarge",
    "metric_payload",
    "tail_payload",
]

MIN_WIDTH_PX = 50
MAX_WIDTH_PX = 4000
MAX_RUNS_PER_CHART = 20
MAX_TAIL_POINTS = 10_000  # a live update bigger than this redraws the chart from scratch
MS_PER_S = 1000.0
MAX_TIME_AXIS_POINTS = 2_000_000  # about 100 MB of arrays while a time-axis chart is cut


class ChartTooLarge(ValueError):
    """A chart that cannot be drawn as asked; the message says why and what to do instead."""


# Two pixels per bucket look the same as one with a min/max band, and halve the work.
PX_PER_BUCKET = 2


@dataclass(frozen=True)
class ChartRequest:
    project: str
    runs: list[str]
    attribute: str
    x: str  # "step" or "time"
    lo: float | None  # inclusive x range; seconds since the epoch when x is "time"
    hi: float | None
    width: int


def metric_payload(source: UiSource, request: ChartRequest) -> dict[str, Any]:
    """The chart's JSON: per run the drawn x/y (and lo/hi when aggregated)."""
    series = []
    with source.read(request.project) as read:
        for run in request.runs:
            fork_step = read.fork_step(run)
            if request.x == "step":
                entry = _by_step(read, request, run, fork_step)
            else:
                entry = _by_time(read, request, run, fork_step)
            if entry is not None:
                series.append({"run": run, "fork_step": fork_step, **entry})
    return {"attribute": request.attribute, "x": request.x, "series": series}


def _by_step(
    read: UiRead, request: ChartRequest, run: str, fork_step: float | None
) -> dict[str, Any] | None:
    buckets = read.buckets(run, request.attribute, request.lo, request.hi, _bucket_count(request))
    if buckets is None:
        return None
    total = int(buckets.count.sum())
    if total <= request.width:
        points = read.points(run, request.attribute, request.lo, request.hi)
        return _exact(points, fork_step, "step")
    full = buckets.count > 0
    last_step = buckets.last_step[full]
    return {
        "aggregated": True,
        "total": total,
        "x": finite_list(last_step),
        "y": finite_list(buckets.last_value[full]),
        "lo": finite_list(buckets.vmin[full]),
        "hi": finite_list(buckets.vmax[full]),
        "inherited": _inherited(buckets.to_step[full], fork_step),
        "last_step": float(last_step[-1]) if len(last_step) else None,
    }


def _by_time(
    read: UiRead, request: ChartRequest, run: str, fork_step: float | None
) -> dict[str, Any] | None:
    # Steps are indexed, times are not: a time axis reads every point of the series.
    extent = read.buckets(run, request.attribute, None, None, 1)
    total = 0 if extent is None else int(extent.count.sum())
    if total > MAX_TIME_AXIS_POINTS:
        raise ChartTooLarge(
            f"x: time needs every point in memory; {run}'s {request.attribute} has {total:,}, "
            f"the limit is {MAX_TIME_AXIS_POINTS:,} (use x = step)"
        )
    points = read.points(run, request.attribute, None, None, with_time=True)
    if points is None:
        return None
    assert points.time_ms is not None
    seconds = points.time_ms / MS_PER_S
    keep = np.isfinite(seconds)  # a point whose stored time readers cannot show has no place
    if request.lo is not None:
        keep &= seconds >= request.lo
    if request.hi is not None:
        keep &= seconds <= request.hi
    order = np.argsort(seconds[keep], kind="stable")
    step, value, seconds = points.step[keep][order], points.value[keep][order], seconds[keep][order]
    if len(step) <= request.width:
        return _exact(Points(step=step, value=value, time_ms=seconds * MS_PER_S), fork_step, "time")
    return _cut_by_time(step, value, seconds, _bucket_count(request), fork_step)


def _bucket_count(request: ChartRequest) -> int:
    return max(1, request.width // PX_PER_BUCKET)


def _cut_by_time(
    step: np.ndarray[Any, Any],
    value: np.ndarray[Any, Any],
    seconds: np.ndarray[Any, Any],
    width: int,
    fork_step: float | None,
) -> dict[str, Any]:
    span = seconds[-1] - seconds[0]
    index = np.minimum(((seconds - seconds[0]) / (span or 1.0) * width).astype(np.int64), width - 1)
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    ends = np.r_[starts[1:], len(index)] - 1
    finite = np.where(np.isfinite(value), value, np.nan)
    with np.errstate(invalid="ignore"):
        lo = np.fmin.reduceat(finite, starts)
        hi = np.fmax.reduceat(finite, starts)
    return {
        "aggregated": True,
        "total": len(step),
        "x": finite_list(seconds[ends]),
        "y": finite_list(value[ends]),
        "lo": finite_list(lo),
        "hi": finite_list(hi),
        "inherited": _inherited(np.maximum.reduceat(step, starts), fork_step),
        "last_step": float(step.max()),
    }


def _exact(points: Points | None, fork_step: float | None, x: str) -> dict[str, Any] | None:
    if points is None:
        return None
    if x == "step":
        xs = points.step
    else:
        assert points.time_ms is not None  # asked for with_time
        xs = np.asarray(points.time_ms, dtype=np.float64) / MS_PER_S
    return {
        "aggregated": False,
        "total": len(points.step),
        "x": finite_list(xs),
        "y": finite_list(points.value),
        "lo": None,
        "hi": None,
        "inherited": _inherited(points.step, fork_step),
        "last_step": float(points.step.max()) if len(points.step) else None,
    }


def _inherited(steps: np.ndarray[Any, Any], fork_step: float | None) -> int:
    """How many leading entries came from ancestors (all their steps ≤ the fork step)."""
    if fork_step is None or not len(steps):
        return 0
    return int(np.argmax(steps > fork_step)) if (steps > fork_step).any() else len(steps)


def tail_payload(
    source: UiSource, project: str, run: str, attribute: str, after: float
) -> dict[str, Any]:
    """Points logged after step ``after`` (live updates), or ``truncated`` when too many."""
    with source.read(project) as read:
        points = read.points(run, attribute, after, None, with_time=True, limit=MAX_TAIL_POINTS + 2)
    if points is None:
        return {"step": [], "value": [], "time": [], "truncated": False}
    # The range is inclusive and the chart already has ``after``, hence one more in the limit.
    mask = points.step > after
    step, value = points.step[mask], points.value[mask]
    assert points.time_ms is not None
    if len(step) > MAX_TAIL_POINTS:
        return {"step": [], "value": [], "time": [], "truncated": True}
    return {
        "step": finite_list(step),
        "value": finite_list(value),
        "time": finite_list(points.time_ms[mask] / MS_PER_S),
        "truncated": False,
    }
