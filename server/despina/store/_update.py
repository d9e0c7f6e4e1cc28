"""Applying snapshots to an existing run: assigns, string-set changes and series appends.

Types are claimed in arrival order: a path's type is fixed by its first accepted use (stored, or
earliest in this update); any other type for it afterwards is rejected (21).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode

from despina.store import _model as m
from despina.store import _rules
from despina.store._decode import DecodedUpdate, FloatGroup, SnapshotItem
from despina.store._engine import Tx
from despina.store._issues import Issues
from despina.store._series import PointBatch, append_floats, append_points

__all__ = ["update_run"]

_SET_ADD = common_pb2.SET_OPERATION.ADD
_SET_REMOVE = common_pb2.SET_OPERATION.REMOVE


@dataclass
class _Context:
    tx: Tx
    run: m.RunRow
    update: DecodedUpdate
    issues: Issues
    now_ms: int
    types: dict[str, str] = field(default_factory=dict)  # path -> type, stored or claimed
    scalars: dict[str, tuple[str, str]] = field(default_factory=dict)  # stored + changed here
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)
    series: dict[str, m.SeriesState] = field(default_factory=dict)
    first_float_use: dict[str, int] = field(default_factory=dict)

    @property
    def fork_step(self) -> float | None:
        return self.run.fork_step if self.run.parent_pk is not None else None


def update_run(tx: Tx, run: m.RunRow, update: DecodedUpdate, now_ms: int, issues: Issues) -> None:
    """Apply a decoded update (``_decode.decode_update``, or one slice of it) to ``run``."""
    ctx = _Context(tx, run, update, issues, now_ms)
    paths = {item.path for item in update.items} | {g.path for g in update.floats}
    ctx.scalars = tx.attributes(run.pk, paths)
    ctx.series = tx.series(run.pk, paths)
    ctx.types = {p: t for p, (t, _) in ctx.scalars.items()}
    ctx.types.update({p: s.type for p, s in ctx.series.items()})
    ctx.first_float_use = {g.path: int(g.snapshots[0]) for g in update.floats if len(g.snapshots)}
    appended: dict[str, list[tuple[int, str]]] = {}
    for item in update.items:
        if item.kind == "assign":
            _assign(ctx, item)
        elif item.kind == "modify":
            _modify(ctx, item)
        else:
            _collect_point(ctx, item, appended)
    for group in update.floats:
        _append_float_group(ctx, group)
    for path, points in appended.items():
        _append_other(ctx, path, points)
    if ctx.changed:
        tx.put_attributes(run.pk, ctx.changed)
    touched = [s for s in ctx.series.values() if s.pk is not None]
    if touched:
        tx.save_series(touched)
    tx.touch_run(run.pk, now_ms)


def _claim(ctx: _Context, path: str, kind: str, snapshot: int, count: int = 1) -> bool:
    """True if ``path`` may hold ``kind``; otherwise report the conflict."""
    current = ctx.types.get(path)
    if current is None:
        float_first = ctx.first_float_use.get(path)
        if kind != m.FLOAT_SERIES and float_first is not None and float_first < snapshot:
            current = m.FLOAT_SERIES
        else:
            ctx.types[path] = kind
            return True
    if current == kind:
        return True
    ctx.issues.add(
        IngestCode.FIELD_TYPE_CONFLICTING,
        path,
        f"{path} holds a {current}; a {kind} cannot be written to it",
        count,
    )
    return False


def _path_ok(ctx: _Context, path: str, *, modify_set: bool = False, count: int = 1) -> bool:
    broken = _rules.check_path(path, modify_set=modify_set)
    if broken is not None:
        ctx.issues.add(broken.code, path, broken.message, count)
    return broken is None


def _assign(ctx: _Context, item: SnapshotItem) -> None:
    if not _path_ok(ctx, item.path):
        return
    encoded = _rules.encode_assigned(item.path, item.value)
    if isinstance(encoded, _rules.Broken):
        ctx.issues.add(encoded.code, item.path, encoded.message)
    elif _claim(ctx, item.path, encoded[0], item.snapshot):
        ctx.scalars[item.path] = ctx.changed[item.path] = encoded


def _modify(ctx: _Context, item: SnapshotItem) -> None:
    path = item.path
    if not _path_ok(ctx, path, modify_set=True) or not _claim(
        ctx, path, m.STRING_SET, item.snapshot
    ):
        return
    stored = ctx.scalars.get(path)
    members = set(m.decode_value(stored[1])) if stored else set()
    operations = item.value.string.values  # type: ignore[union-attr]
    for tag, operation in operations.items():
        if operation == _SET_ADD:
            members.add(tag)
        elif operation == _SET_REMOVE:
            members.discard(tag)
    encoded = _rules.encode_string_set(path, sorted(members))
    if isinstance(encoded, _rules.Broken):
        ctx.issues.add(encoded.code, path, encoded.message, len(operations))
    else:
        ctx.scalars[path] = ctx.changed[path] = encoded


def _collect_point(
    ctx: _Context, item: SnapshotItem, out: dict[str, list[tuple[int, str]]]
) -> None:
    if not _path_ok(ctx, item.path):
        return
    encoded = _rules.encode_series_point(item.path, item.value)
    if isinstance(encoded, _rules.Broken):
        ctx.issues.add(encoded.code, item.path, encoded.message)
    elif _claim(ctx, item.path, encoded[0], item.snapshot):
        out.setdefault(item.path, []).append((item.snapshot, encoded[1]))


def _valid_steps(ctx: _Context, path: str, snapshots: np.ndarray) -> np.ndarray:
    """Mask of points with a usable step and time; the others are reported (41, 40, 33)."""
    update = ctx.update
    has = update.has_step[snapshots]
    steps = update.steps[snapshots]
    missing = int((~has).sum())
    ctx.issues.add(
        IngestCode.SERIES_STEP_INVALID, path, f"{path}: a series point needs a step", missing
    )
    invalid = has & np.isnan(steps)  # Step.micro of 10^6 or more (see DecodedUpdate)
    ctx.issues.add(
        IngestCode.SERIES_STEP_INVALID,
        path,
        f"{path}: Step.micro must be below {_rules.MICRO_PER_STEP}",
        int(invalid.sum()),
    )
    large = has & (steps >= _rules.MAX_STEP)
    ctx.issues.add(
        IngestCode.SERIES_STEP_TOO_LARGE,
        path,
        f"{path}: steps must be below {_rules.MAX_STEP:g}",
        int(large.sum()),
    )
    bad_time = update.bad_timestamp[snapshots]
    ctx.issues.add(
        IngestCode.DATETIME_VALUE_OUT_OF_RANGE,
        path,
        f"{path}: a point's timestamp must lie between the years 1678 and 2261 (UTC), with "
        "Timestamp.nanos in [0, 10^9)",
        int((bad_time & has & ~invalid & ~large).sum()),
    )
    return np.asarray(has & ~invalid & ~large & ~bad_time)


def _batch(ctx: _Context, snapshots: np.ndarray, values: object) -> PointBatch:
    update = ctx.update
    ts = np.where(update.has_timestamp[snapshots], update.timestamps[snapshots], ctx.now_ms)
    return PointBatch(
        steps=update.steps[snapshots],
        timestamps=ts.astype(np.int64),
        preview=update.preview[snapshots],
        completion=update.completion[snapshots],
        values=values,  # type: ignore[arg-type]
    )


def _state(ctx: _Context, path: str, kind: str) -> m.SeriesState:
    state = ctx.series.get(path)
    if state is None:
        state = ctx.series[path] = m.SeriesState(pk=None, run_pk=ctx.run.pk, path=path, type=kind)
    return state


def _append_float_group(ctx: _Context, group: FloatGroup) -> None:
    path, count = group.path, len(group.values)
    if not _path_ok(ctx, path, count=count):
        return
    if not _claim(ctx, path, m.FLOAT_SERIES, int(group.snapshots[0]), count):
        return
    keep = _valid_steps(ctx, path, group.snapshots)
    snapshots, values = group.snapshots[keep], group.values[keep]
    if len(snapshots):
        batch = _batch(ctx, snapshots, values)
        append_floats(ctx.tx, _state(ctx, path, m.FLOAT_SERIES), ctx.fork_step, batch, ctx.issues)


def _append_other(ctx: _Context, path: str, points: list[tuple[int, str]]) -> None:
    snapshots = np.asarray([i for i, _ in points], dtype=np.int64)
    keep = _valid_steps(ctx, path, snapshots)
    texts = [text for (_, text), ok in zip(points, keep, strict=True) if ok]
    if texts:
        kind = ctx.types[path]
        batch = _batch(ctx, snapshots[keep], texts)
        append_points(ctx.tx, _state(ctx, path, kind), ctx.fork_step, batch, ctx.issues)
