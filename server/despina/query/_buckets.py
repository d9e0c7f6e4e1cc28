"""Downsampling a float series into equal step ranges, fast on millions of points.

Chunks lying wholly inside one bucket contribute their stored summaries; only chunks crossing a
bucket edge (at most one per edge) or the ends of the range are decoded. Every partial result is
a row of per-bucket aggregates, reduced at the end. Buckets cover ``[lo, hi]`` in ``count`` equal
steps; the last one includes ``hi``. ``first``/``last`` are the first and last *finite* points.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter

import numpy as np
import numpy.typing as npt

from despina.store import Segment, Tx

__all__ = ["Buckets", "buckets", "series_extent"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
_FIELDS = (
    "count",
    "finite",
    "nan",
    "pinf",
    "ninf",
    "vmin",
    "vmax",
    "vsum",
    "first_step",
    "first_value",
    "last_step",
    "last_value",
)


@dataclass
class Buckets:
    """Per bucket: ranges and aggregates (NaN where a bucket holds no finite point)."""

    from_step: F64
    to_step: F64
    count: I64
    finite: I64
    nan: I64
    pinf: I64
    ninf: I64
    vmin: F64
    vmax: F64
    vsum: F64
    first_step: F64
    first_value: F64
    last_step: F64
    last_value: F64


class _Partials:
    def __init__(self) -> None:
        self.bucket: list[I64] = []
        self.cols: dict[str, list[F64]] = {name: [] for name in _FIELDS}

    def add(self, bucket: I64, **cols: F64) -> None:
        self.bucket.append(bucket)
        for name in _FIELDS:
            self.cols[name].append(np.asarray(cols[name], dtype=np.float64))


# Columns of a summary array (the order of the SQLite engine's chunk_summary_array).
_SUMMARY_FIELDS = (
    "series_pk",
    "first_step",
    "last_step",
    "count",
    "finite_count",
    "nan_count",
    "pinf_count",
    "ninf_count",
    "vmin",
    "vmax",
    "vsum",
    "first_fstep",
    "first_fvalue",
    "last_fstep",
    "last_fvalue",
)
_FIRST, _LAST = 1, 2


def _summary_array(tx: Tx, series_pk: int, lo: float, hi: float) -> F64:
    """Chunk summaries as an (n, 15) float array, NaN for missing values."""
    fast = getattr(tx, "chunk_summary_array", None)  # optional primitive of an engine
    if fast is not None:
        result: F64 = fast(series_pk, lo, hi)
        return result
    chunks = tx.chunk_summaries(series_pk, lo, hi)
    get = attrgetter(*_SUMMARY_FIELDS)
    rows = [get(c) for c in chunks]
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(_SUMMARY_FIELDS))


def _summary_rows(table: F64, bucket: I64, out: _Partials) -> None:
    out.add(
        bucket,
        count=table[:, 3],
        finite=table[:, 4],
        nan=table[:, 5],
        pinf=table[:, 6],
        ninf=table[:, 7],
        vmin=table[:, 8],
        vmax=table[:, 9],
        vsum=table[:, 10],
        first_step=table[:, 11],
        first_value=table[:, 12],
        last_step=table[:, 13],
        last_value=table[:, 14],
    )


def _point_rows(steps: F64, values: F64, bucket: I64, out: _Partials) -> None:
    if not len(steps):
        return
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    finite = np.isfinite(values)
    safe_lo = np.where(finite, values, np.inf)
    safe_hi = np.where(finite, values, -np.inf)
    nfin = np.add.reduceat(finite.astype(np.int64), starts)
    vmin = np.minimum.reduceat(safe_lo, starts)
    vmax = np.maximum.reduceat(safe_hi, starts)
    fb = bucket[finite]
    first = np.full(len(starts), np.nan), np.full(len(starts), np.nan)
    last = np.full(len(starts), np.nan), np.full(len(starts), np.nan)
    if len(fb):
        fsteps, fvalues = steps[finite], values[finite]
        where = np.searchsorted(bucket[starts], fb)  # segment of each finite point, sorted
        change = np.flatnonzero(np.r_[True, where[1:] != where[:-1]])
        ends = np.r_[change[1:] - 1, len(where) - 1]
        u = where[change]
        first[0][u], first[1][u] = fsteps[change], fvalues[change]
        last[0][u], last[1][u] = fsteps[ends], fvalues[ends]
    out.add(
        bucket[starts],
        count=np.diff(np.r_[starts, len(steps)]),
        finite=nfin,
        nan=np.add.reduceat(np.isnan(values).astype(np.int64), starts),
        pinf=np.add.reduceat((values == np.inf).astype(np.int64), starts),
        ninf=np.add.reduceat((values == -np.inf).astype(np.int64), starts),
        vmin=np.where(nfin > 0, vmin, np.nan),
        vmax=np.where(nfin > 0, vmax, np.nan),
        vsum=np.add.reduceat(np.where(finite, values, 0.0), starts),
        first_step=first[0],
        first_value=first[1],
        last_step=last[0],
        last_value=last[1],
    )


def _reduce(parts: _Partials, lo: float, width: float, count: int) -> Buckets:
    edges = lo + width * np.arange(count + 1)
    table = {name: np.full(count, np.nan) for name in _FIELDS}
    for name in ("count", "finite", "nan", "pinf", "ninf", "vsum"):
        table[name] = np.zeros(count)
    if parts.bucket:
        b = np.concatenate(parts.bucket)
        c = {name: np.concatenate(v) for name, v in parts.cols.items()}
        for name in ("count", "finite", "nan", "pinf", "ninf", "vsum"):
            np.add.at(table[name], b, c[name])
        np.fmin.at(table["vmin"], b, c["vmin"])
        np.fmax.at(table["vmax"], b, c["vmax"])
        ok = np.flatnonzero(~np.isnan(c["first_step"]))
        first = ok[np.lexsort((c["first_step"][ok], b[ok]))]  # by bucket, then step
        u, i = np.unique(b[first], return_index=True)
        table["first_step"][u] = c["first_step"][first[i]]
        table["first_value"][u] = c["first_value"][first[i]]
        last = ok[np.lexsort((-c["last_step"][ok], b[ok]))]  # by bucket, latest step first
        u, i = np.unique(b[last], return_index=True)
        table["last_step"][u] = c["last_step"][last[i]]
        table["last_value"][u] = c["last_value"][last[i]]
    ints = {n: table[n].astype(np.int64) for n in ("count", "finite", "nan", "pinf", "ninf")}
    return Buckets(
        from_step=edges[:-1].astype(np.float64),
        to_step=edges[1:].astype(np.float64),
        count=ints["count"],
        finite=ints["finite"],
        nan=ints["nan"],
        pinf=ints["pinf"],
        ninf=ints["ninf"],
        vmin=table["vmin"],
        vmax=table["vmax"],
        vsum=table["vsum"],
        first_step=table["first_step"],
        first_value=table["first_value"],
        last_step=table["last_step"],
        last_value=table["last_value"],
    )


def series_extent(tx: Tx, chain: list[Segment], path: str) -> tuple[float, float] | None:
    """First and last committed step of the visible series, or None when it has no points.

    ``chain``: the run's lineage (``despina.store.ancestry``), the run first."""
    lo = hi = None
    for segment in chain:
        state = tx.series(segment.run.pk, [path]).get(path)
        if state is None or state.pk is None or state.first_step is None:
            continue
        if state.first_step > segment.up_to:
            continue
        top = state.last_step if state.last_step is not None else state.first_step
        if top > segment.up_to:
            chunks = tx.chunks(state.pk, None, segment.up_to, timestamps=False)
            steps = np.frombuffer(chunks[-1].steps) if chunks else np.empty(0)
            top = float(steps[steps <= segment.up_to][-1])
        lo = state.first_step if lo is None else min(lo, state.first_step)
        hi = top if hi is None else max(hi, top)
    return None if lo is None or hi is None else (lo, hi)


def buckets(tx: Tx, chain: list[Segment], path: str, lo: float, hi: float, count: int) -> Buckets:
    """Aggregates of the visible float series over ``count`` equal step ranges of [lo, hi]."""
    width = (hi - lo) / count if hi > lo else 1.0
    parts = _Partials()
    decoded: list[tuple[F64, F64]] = []

    def index(steps: F64) -> I64:
        return np.minimum(((steps - lo) // width).astype(np.int64), count - 1)

    for segment in reversed(chain):  # oldest ancestor first
        state = tx.series(segment.run.pk, [path]).get(path)
        if state is None or state.pk is None or state.type != "floatSeries":
            continue
        top = min(hi, segment.up_to)
        summaries = _summary_array(tx, state.pk, lo, top)
        if not len(summaries):
            continue
        first, last = summaries[:, _FIRST], summaries[:, _LAST]
        whole = (first >= lo) & (last <= top) & (index(first) == index(np.minimum(last, hi)))
        if whole.any():
            _summary_rows(summaries[whole], index(first[whole]), parts)
        decoded.extend(_decode_partial(tx, state.pk, summaries, whole, lo, top))
    if decoded:  # one vectorized pass over every decoded point (buckets never decrease)
        steps = np.concatenate([d[0] for d in decoded])
        _point_rows(steps, np.concatenate([d[1] for d in decoded]), index(steps), parts)
    return _reduce(parts, lo, width, count)


def _decode_partial(
    tx: Tx,
    series_pk: int,
    summaries: F64,
    whole: npt.NDArray[np.bool_],
    lo: float,
    top: float,
) -> list[tuple[F64, F64]]:
    """Points of the chunks not covered by a summary, limited to [lo, top]."""
    todo = np.flatnonzero(~whole)
    if not len(todo):
        return []
    chunks_at = getattr(tx, "chunks_at", None)  # optional primitive: one query for all
    if chunks_at is not None:
        chunks = chunks_at(series_pk, summaries[todo, _FIRST].tolist())
    else:
        chunks, wanted = [], set(summaries[todo, _FIRST].tolist())
        for group in np.split(todo, np.flatnonzero(np.diff(todo) > 1) + 1):
            a, b = float(summaries[group[0], _FIRST]), float(summaries[group[-1], _LAST])
            found = tx.chunks(series_pk, a, b, timestamps=False)
            chunks.extend(c for c in found if c.first_step in wanted)
    out = []
    for chunk in chunks:
        steps, values = np.frombuffer(chunk.steps), np.frombuffer(chunk.values)
        keep = (steps >= lo) & (steps <= top)
        out.append((steps[keep], values[keep]))
    return out
