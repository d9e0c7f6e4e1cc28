"""Appending points to series: the per-series rules of protocol §7.2 and the chunked float storage.

Rules, per attribute: committed (non-preview) steps strictly increase (25; file series excepted:
they take steps in any order, a step logged again holding the newer file) — a re-sent point with
the same step and value is a replay, reported as a duplicate (24, a warning) and not stored twice;
timestamps never decrease (27); a forked run's points come after the fork step (26); a preview
must lie after the last committed step (42) and is replaced by a later preview or the committed
point at its step.

Float points are stored in chunks of up to ``CHUNK_MAX_POINTS``; the common case (a batch that
simply continues the series) is checked with a few numpy comparisons instead of a loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode

from despina.store import _model as m
from despina.store._engine import Tx
from despina.store._issues import Issues

__all__ = ["PointBatch", "append_floats", "append_points", "pack_chunks"]

CHUNK_MAX_POINTS = 1024
# A last chunk smaller than this absorbs the next points, so slow logging still makes big chunks.
CHUNK_MERGE_BELOW = 256

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass(slots=True)
class PointBatch:
    """Points of one series in arrival order; ``values`` floats or JSON texts."""

    steps: F64
    timestamps: I64
    preview: B
    completion: F64
    values: F64 | list[str]


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _sequence(
    state: m.SeriesState,
    fork_step: float | None,
    batch: PointBatch,
    lookup: Callable[[float], object | None],
    issues: Issues,
) -> tuple[list[int], list[int]]:
    """Check points one by one; return indexes of accepted committed points and previews."""
    path, committed, previews = state.path, [], []
    last_step, last_ts = state.last_step, state.last_ts
    seen: dict[float, object] = {}
    for i in range(len(batch.steps)):
        step, ts = float(batch.steps[i]), int(batch.timestamps[i])
        value = batch.values[i]
        value = float(value) if isinstance(value, np.floating) else value
        if fork_step is not None and step <= fork_step:
            issues.add(
                IngestCode.SERIES_STEP_NOT_AFTER_FORK_POINT,
                path,
                f"{path}: step {step:g} is not after the fork step {fork_step:g}",
            )
        elif batch.preview[i]:
            if last_step is not None and step <= last_step:
                issues.add(
                    IngestCode.SERIES_PREVIEW_STEP_NOT_AFTER_LAST_COMMITTED_STEP,
                    path,
                    f"{path}: preview step {step:g} is not after the last committed "
                    f"step {last_step:g}",
                )
            elif last_ts is not None and ts < last_ts:
                issues.add(
                    IngestCode.SERIES_TIMESTAMP_DECREASING,
                    path,
                    f"{path}: timestamp {ts} ms is before the last one ({last_ts} ms)",
                )
            else:
                previews.append(i)
        elif last_step is not None and step <= last_step:
            existing = seen[step] if step in seen else lookup(step)
            if existing is not None and _same(existing, value):
                issues.add(
                    IngestCode.SERIES_POINT_DUPLICATE,
                    path,
                    f"{path}: the point at step {step:g} was already stored",
                )
            else:
                issues.add(
                    IngestCode.SERIES_STEP_NON_INCREASING,
                    path,
                    f"{path}: step {step:g} is not after the last step {last_step:g}; "
                    "steps must increase strictly per series",
                )
        elif last_ts is not None and ts < last_ts:
            issues.add(
                IngestCode.SERIES_TIMESTAMP_DECREASING,
                path,
                f"{path}: timestamp {ts} ms is before the last one ({last_ts} ms)",
            )
        else:
            committed.append(i)
            seen[step] = value
            last_step, last_ts = step, ts
    return committed, previews


def _fast_ok(state: m.SeriesState, fork_step: float | None, batch: PointBatch) -> bool:
    steps, ts = batch.steps, batch.timestamps
    if batch.preview.any() or not len(steps):
        return False
    if state.last_step is not None and steps[0] <= state.last_step:
        return False
    if fork_step is not None and steps[0] <= fork_step:
        return False
    if state.last_ts is not None and ts[0] < state.last_ts:
        return False
    return bool(np.all(steps[1:] > steps[:-1]) and np.all(ts[1:] >= ts[:-1]))


class _ChunkLookup:
    """Finds a stored committed float value by step, loading each chunk once."""

    def __init__(self, tx: Tx, series_pk: int | None) -> None:
        self._tx, self._pk = tx, series_pk
        self._loaded: list[tuple[F64, F64]] = []

    def __call__(self, step: float) -> float | None:
        if self._pk is None:
            return None
        for steps, values in self._loaded:
            if steps[0] <= step <= steps[-1]:
                return self._find(steps, values, step)
        for chunk in self._tx.chunks(self._pk, step, step, timestamps=False):
            arrays = (np.frombuffer(chunk.steps), np.frombuffer(chunk.values))
            self._loaded.append(arrays)
            return self._find(*arrays, step)
        return None

    @staticmethod
    def _find(steps: F64, values: F64, step: float) -> float | None:
        i = int(np.searchsorted(steps, step))
        return float(values[i]) if i < len(steps) and steps[i] == step else None


def pack_chunks(series_pk: int, steps: F64, values: F64, ts: I64) -> list[m.FloatChunk]:
    """Split sorted points into chunks of at most ``CHUNK_MAX_POINTS`` with their summaries."""
    out = []
    for start in range(0, len(steps), CHUNK_MAX_POINTS):
        s, v, t = (a[start : start + CHUNK_MAX_POINTS] for a in (steps, values, ts))
        finite = np.isfinite(v)
        fv, fs = v[finite], s[finite]
        nan = int(np.count_nonzero(np.isnan(v)))
        pinf = int(np.count_nonzero(v == np.inf))  # np.isposinf is much slower
        has = len(fv) > 0
        out.append(
            m.FloatChunk(
                series_pk=series_pk,
                first_step=float(s[0]),
                last_step=float(s[-1]),
                count=len(s),
                finite_count=len(fv),
                nan_count=nan,
                pinf_count=pinf,
                ninf_count=len(s) - len(fv) - nan - pinf,
                vmin=float(fv.min()) if has else None,
                vmax=float(fv.max()) if has else None,
                vsum=float(fv.sum()),
                first_fstep=float(fs[0]) if has else None,
                first_fvalue=float(fv[0]) if has else None,
                last_fstep=float(fs[-1]) if has else None,
                last_fvalue=float(fv[-1]) if has else None,
                steps=np.ascontiguousarray(s, "<f8").tobytes(),
                values=np.ascontiguousarray(v, "<f8").tobytes(),
                timestamps=np.ascontiguousarray(t, "<i8").tobytes(),
            )
        )
    return out


def _ensure_saved(tx: Tx, state: m.SeriesState) -> int:
    """Series rows are created only once a point is accepted, so rejected data leaves no trace."""
    if state.pk is None:
        tx.save_series([state])
    assert state.pk is not None
    return state.pk


def _store_floats(tx: Tx, state: m.SeriesState, steps: F64, values: F64, ts: I64) -> None:
    _ensure_saved(tx, state)
    assert state.pk is not None
    last = tx.last_chunk(state.pk) if state.count else None
    if last is not None and last.count < CHUNK_MERGE_BELOW:
        steps = np.concatenate([np.frombuffer(last.steps), steps])
        values = np.concatenate([np.frombuffer(last.values), values])
        ts = np.concatenate([np.frombuffer(last.timestamps, dtype=np.int64), ts])
    tx.put_chunks(pack_chunks(state.pk, steps, values, ts))


def _account_floats(state: m.SeriesState, steps: F64, values: F64, ts: I64) -> None:
    finite = values[np.isfinite(values)]
    state.count += len(steps)
    if state.first_step is None:
        state.first_step = float(steps[0])
    state.last_step, state.last_ts = float(steps[-1]), int(ts[-1])
    state.last_value = m.encode_value(float(values[-1]))
    if len(finite):
        lo, hi = float(finite.min()), float(finite.max())
        state.vmin = lo if state.vmin is None else min(state.vmin, lo)
        state.vmax = hi if state.vmax is None else max(state.vmax, hi)
        state.finite_count += len(finite)
        state.vsum += float(finite.sum())
        state.vsumsq += float(np.square(finite).sum())


def append_floats(
    tx: Tx, state: m.SeriesState, fork_step: float | None, batch: PointBatch, issues: Issues
) -> None:
    """Check and store float points; a new ``state`` is saved once something is accepted."""
    values = np.asarray(batch.values, dtype=np.float64)
    if _fast_ok(state, fork_step, batch):
        committed = np.arange(len(values))
        previews: list[int] = []
    else:
        lookup = _ChunkLookup(tx, state.pk)
        accepted, previews = _sequence(state, fork_step, batch, lookup, issues)
        committed = np.asarray(accepted, dtype=np.int64)
    if len(committed):
        s, v, t = batch.steps[committed], values[committed], batch.timestamps[committed]
        _store_floats(tx, state, s, v, t)
        _account_floats(state, s, v, t)
        if state.has_preview:
            _drop_replaced_previews(tx, state, s)
    if previews:
        _store_previews(
            tx, state, batch, previews, [m.encode_value(float(values[i])) for i in previews]
        )


def _store_previews(
    tx: Tx, state: m.SeriesState, batch: PointBatch, indexes: list[int], texts: list[str]
) -> None:
    pk = _ensure_saved(tx, state)
    points = [
        m.Point(
            float(batch.steps[i]),
            int(batch.timestamps[i]),
            text,
            True,
            None if math.isnan(batch.completion[i]) else float(batch.completion[i]),
        )
        for i, text in zip(indexes, texts, strict=True)
    ]
    tx.put_points(pk, points)
    state.has_preview = True


def _drop_replaced_previews(tx: Tx, state: m.SeriesState, steps: F64) -> None:
    """A committed point replaces the preview at its step."""
    assert state.pk is not None
    stored = tx.points(state.pk, float(steps[0]), float(steps[-1]), is_preview=True)
    hit = [p.step for p in stored if p.step in set(steps.tolist())]
    tx.delete_points(state.pk, hit, is_preview=True)
    state.has_preview = bool(tx.points(state.pk, None, None, is_preview=True, limit=1))


def append_points(
    tx: Tx, state: m.SeriesState, fork_step: float | None, batch: PointBatch, issues: Issues
) -> None:
    """Check and store points of a string, histogram or file series (values are JSON texts)."""

    def lookup(step: float) -> str | None:
        if state.pk is None:
            return None
        found = tx.points(state.pk, step, step, is_preview=False, limit=1)
        return found[0].value if found else None

    texts = list(batch.values)
    if state.type == "fileRefSeries":
        _append_files(tx, state, fork_step, batch, texts, lookup, issues)
        return
    committed, previews = _sequence(state, fork_step, batch, lookup, issues)
    if committed:
        points = [
            m.Point(float(batch.steps[i]), int(batch.timestamps[i]), str(texts[i]))
            for i in committed
        ]
        tx.put_points(_ensure_saved(tx, state), points)
        state.count += len(points)
        if state.first_step is None:
            state.first_step = points[0].step
        state.last_step, state.last_ts = points[-1].step, points[-1].ts
        state.last_value = points[-1].value
        if state.has_preview:
            _drop_replaced_previews(tx, state, np.asarray([p.step for p in points]))
    if previews:
        _store_previews(tx, state, batch, previews, [str(texts[i]) for i in previews])


def _append_files(
    tx: Tx,
    state: m.SeriesState,
    fork_step: float | None,
    batch: PointBatch,
    texts: list[str],
    lookup: Callable[[float], object | None],
    issues: Issues,
) -> None:
    """File series take steps in any order, as the hosted service does (neptune-client-scale's
    own suite logs steps 3, 2, 1 and reads all three back); a step logged again holds the newer
    file. Only a forked run's steps up to the fork step are refused (26)."""
    chosen: dict[float, int] = {}
    for i, step in enumerate(batch.steps.tolist()):
        if fork_step is not None and step <= fork_step:
            issues.add(
                IngestCode.SERIES_STEP_NOT_AFTER_FORK_POINT,
                state.path,
                f"{state.path}: step {step:g} is not after the fork step {fork_step:g}",
            )
        else:
            chosen[step] = i
    if not chosen:
        return
    new = sum(1 for step in chosen if lookup(step) is None)
    points = [m.Point(step, int(batch.timestamps[i]), str(texts[i])) for step, i in chosen.items()]
    tx.put_points(_ensure_saved(tx, state), points)
    state.count += new
    top = max(chosen)
    state.first_step = min(min(chosen), state.first_step if state.first_step is not None else top)
    if state.last_step is None or top >= state.last_step:
        state.last_step, state.last_ts = top, int(batch.timestamps[chosen[top]])
        state.last_value = str(texts[chosen[top]])
