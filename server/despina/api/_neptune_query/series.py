"""Series answers of the read side: float series pages, generic series pages, metric buckets.

Float series (protocol §5.7) page by ``afterStep``: each answer holds exactly
min(``perSeriesPointsLimit``, points left) points, because the client takes a short page as the
end of the series. Generic series page by an opaque ``searchAfter`` token (the last step sent and
the count so far); ``perSeriesPointsLimit`` there caps the whole series (the client's tail
limit). Buckets: the first is (−inf, lo], then equal right-closed steps up to hi, over the range
of every series in the request, so rows of several runs line up; buckets without points are
left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from neptune_api.proto.neptune_pb.api.v1.model import series_values_pb2 as sv

from despina.api._neptune_query.attrs import file_proto, histogram_proto
from despina.api._neptune_query.wire import FloatSeriesAnswer
from despina.query import FloatPoints, Snapshot
from despina.store import RunRow

__all__ = [
    "DEFAULT_SERIES_PAGE_POINTS",
    "DEFAULT_SIZE_LIMIT_BYTES",
    "bucket_rows",
    "float_answer",
    "object_page",
]

DEFAULT_FLOAT_POINTS_LIMIT = 1_000_000  # what the client asks for at most per series
DEFAULT_SERIES_PAGE_POINTS = 10_000  # points per page of a string/histogram/file series
DEFAULT_SIZE_LIMIT_BYTES = 64 * 1024 * 1024  # per answer of generic series
F64 = npt.NDArray[np.float64]


def float_answer(
    snap: Snapshot,
    request_id: str,
    run: RunRow | None,
    attribute: str,
    *,
    lineage: bool,
    previews: bool,
    step_range: tuple[float | None, float | None],
    descending: bool,
    after: float | None,
    limit: int | None,
) -> FloatSeriesAnswer:
    """One page of one float series (empty for an unknown run or attribute)."""
    if run is None:
        cols = FloatPoints.empty()
    else:
        lo, hi = step_range
        cols = snap.float_points(run, attribute, lo, hi, lineage=lineage, previews=previews)
    total = len(cols)
    limit = DEFAULT_FLOAT_POINTS_LIMIT if limit is None else limit
    steps = cols.steps
    if descending:
        end = total if after is None else int(np.searchsorted(steps, after, "left"))
        page = cols.take(slice(max(end - limit, 0), end)).take(slice(None, None, -1))
    else:
        start = 0 if after is None else int(np.searchsorted(steps, after, "right"))
        page = cols.take(slice(start, start + limit))
    return FloatSeriesAnswer(
        request_id,
        total,
        page.steps,
        page.values,
        page.timestamps,
        page.preview,
        page.completion,
        with_previews=previews,
    )


@dataclass(frozen=True)
class PageToken:
    after: float  # last step sent, in the requested order
    sent: int  # points sent so far

    def encode(self) -> str:
        return f"{self.after!r}:{self.sent}"

    @classmethod
    def decode(cls, text: str) -> PageToken:
        try:
            after, sent = text.rsplit(":", 1)
            return cls(float(after), int(sent))
        except ValueError as error:
            raise ValueError(f"searchAfter.token {text!r} was not issued by this server") from error


def _object_value(kind: str, value: Any, out: sv.ProtoSeriesPointValueObjectDTO) -> None:
    if kind == "histogramSeries":
        histogram_proto(value, out.histogram)
    elif kind == "fileRefSeries":
        file_proto(value, out.fileRef)
    else:
        out.stringValue = str(value)


def object_page(
    snap: Snapshot,
    item: sv.ProtoSeriesValuesSingleSeriesResponseDTO,
    run: RunRow,
    attribute: str,
    kind: str,
    *,
    lineage: bool,
    previews: bool,
    step_range: tuple[float | None, float | None],
    descending: bool,
    token: PageToken | None,
    total_limit: int | None,
    page_points: int,
    max_bytes: int,
) -> int:
    """Fill ``item`` with one page of a string/histogram/file series; returns bytes used.

    The page ends after ``page_points`` points or once ``max_bytes`` are used (at least one
    point is always sent, so a page always makes progress).
    """
    lo, hi = step_range
    cols = snap.object_points(run, attribute, lo, hi, lineage=lineage, previews=previews)
    order = range(len(cols.steps) - 1, -1, -1) if descending else range(len(cols.steps))
    sent = 0 if token is None else token.sent
    room = page_points if total_limit is None else min(page_points, total_limit - sent)
    used, taken, last_step = 0, 0, token.after if token is not None else math.nan
    for i in order:
        step = cols.steps[i]
        if token is not None and (step >= token.after if descending else step <= token.after):
            continue
        if taken >= room or (taken and used >= max_bytes):
            break
        point = item.seriesValues.values.add(
            timestamp_millis=cols.timestamps[i], step=step, is_preview=cols.preview[i]
        )
        completion = cols.completion[i]
        if completion is not None:  # 1.0 for a committed point; unset for a preview without one
            point.completion_ratio = completion
        _object_value(kind, cols.values[i], point.object)
        used += point.ByteSize()
        taken, last_step = taken + 1, step
    remaining = _remaining(cols.steps, last_step, descending) if taken else 0
    capped = total_limit is not None and sent + taken >= total_limit
    item.searchAfter.finished = remaining == 0 or capped
    item.searchAfter.token = PageToken(last_step, sent + taken).encode()
    return used


def _remaining(steps: list[float], last: float, descending: bool) -> int:
    return sum(1 for s in steps if (s < last if descending else s > last))


@dataclass
class BucketSeries:
    request_id: str
    steps: F64
    values: F64


def bucket_rows(series: list[BucketSeries], lo: float | None, hi: float | None, count: int) -> Any:
    """``TimeseriesBuckets`` per series over [lo, hi] (None: the extent of all series)."""
    from neptune_api.proto.neptune_pb.api.v1.model.series_values_pb2 import (
        ProtoTimeseriesBucketsDTO,
    )

    out = ProtoTimeseriesBucketsDTO()
    finite = [s.steps for s in series if len(s.steps)]
    if lo is None:
        lo = min((float(s.min()) for s in finite), default=None)
    if hi is None:
        hi = max((float(s.max()) for s in finite), default=None)
    for s in series:
        entry = out.entries.add(requestId=s.request_id)
        if lo is None or hi is None:
            continue
        _fill_buckets(entry, s.steps, s.values, lo, hi, count)
    return out


def _fill_buckets(entry: Any, steps: F64, values: F64, lo: float, hi: float, count: int) -> None:
    keep = (steps >= lo) & (steps <= hi)
    steps, values = steps[keep], values[keep]
    edges: Callable[[int], tuple[float, float]]
    if hi <= lo or count <= 1:
        index = np.zeros(len(steps), dtype=np.int64)
        edges = lambda i: (-math.inf, lo)  # noqa: E731 - one point: (−inf, lo]
        count = 1
    else:
        width = (hi - lo) / (count - 1)
        index = np.clip(np.ceil((steps - lo) / width), 0, count - 1).astype(np.int64)
        edges = lambda i: (-math.inf, lo) if i == 0 else (lo + (i - 1) * width, lo + i * width)  # noqa: E731
    # Steps are sorted, so each bucket is one slice. A bucket without points is left out, as
    # the hosted service does: neptune-query shows the *first* point of the first bucket it
    # gets for a series, so an empty leading bucket would hide the series' first point.
    bounds = np.searchsorted(index, np.arange(count + 1), "left")
    for i in range(count):
        a, b = int(bounds[i]), int(bounds[i + 1])
        if b > a:
            bucket = entry.bucket.add(index=i)
            bucket.fromX, bucket.toX = edges(i)
            _aggregate(bucket, steps[a:b], values[a:b])


def _aggregate(bucket: Any, steps: F64, values: F64) -> None:
    fin = np.isfinite(values)
    bucket.nanCount = int(np.isnan(values).sum())
    bucket.positiveInfCount = int(np.isposinf(values).sum())
    bucket.negativeInfCount = int(np.isneginf(values).sum())
    bucket.finitePointCount = int(fin.sum())
    if not fin.any():
        return
    fs, fv = steps[fin], values[fin]
    bucket.first.x, bucket.first.y = float(fs[0]), float(fv[0])
    bucket.last.x, bucket.last.y = float(fs[-1]), float(fv[-1])
    bucket.localMin, bucket.localMax = float(fv.min()), float(fv.max())
    bucket.localSum = float(fv.sum())
