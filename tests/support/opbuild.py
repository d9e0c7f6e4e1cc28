"""Build neptune-api RunOperation messages the way the client does, and read stored points back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from despina.store import Store
from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2

PROJECT = "ws/proj"
T0 = 1_700_000_000.0  # seconds


@dataclass
class Hist:
    edges: list[float]
    counts: list[int] | None = None
    densities: list[float] | None = None


@dataclass
class FileRef:
    path: str
    size: int = 0
    mime: str = "application/octet-stream"


def set_value(target: common_pb2.Value, value: Any) -> None:
    if isinstance(value, bool):
        target.bool = value
    elif isinstance(value, int):
        target.int64 = value
    elif isinstance(value, float):
        target.float64 = value
    elif isinstance(value, str):
        target.string = value
    elif isinstance(value, dt.datetime):
        target.timestamp.FromDatetime(value)
    elif isinstance(value, (set, frozenset, list, tuple)):
        target.string_set.values.extend(sorted(value))
    elif isinstance(value, Hist):
        target.histogram.bin_edges.extend(value.edges)
        if value.counts is not None:
            target.histogram.counts.values.extend(value.counts)
        if value.densities is not None:
            target.histogram.densities.values.extend(value.densities)
    elif isinstance(value, FileRef):
        target.file_ref.path = value.path
        target.file_ref.size_bytes = value.size
        target.file_ref.mime_type = value.mime
    elif value is None:
        pass  # an empty Value
    else:
        raise TypeError(value)


def step_msg(target: common_pb2.Step, step: float) -> None:
    micro = round(step * 1e6)
    target.whole, target.micro = micro // 1_000_000, micro % 1_000_000


def create(
    run_id: str,
    *,
    project: str = PROJECT,
    experiment: str | None = None,
    fork: str | None = None,
    fork_step: float | None = None,
    created: float | None = None,
    inherit: bool = True,
) -> ingest_pb2.RunOperation:
    op = ingest_pb2.RunOperation(project=project, run_id=run_id)
    op.create.family = run_id
    op.create.inherit_configs = inherit
    if experiment is not None:
        op.create.experiment_id = experiment
    if created is not None:
        op.create.creation_time.seconds = int(created)
    if fork is not None:
        op.create.fork_point.parent_project = project
        op.create.fork_point.parent_run_id = fork
        step_msg(op.create.fork_point.step, fork_step or 0.0)
    return op


@dataclass
class Snap:
    step: float | None = None
    ts: float | None = T0
    assign: Mapping[str, Any] = field(default_factory=dict)
    append: Mapping[str, Any] = field(default_factory=dict)
    add: Mapping[str, Iterable[str]] = field(default_factory=dict)
    remove: Mapping[str, Iterable[str]] = field(default_factory=dict)
    preview: bool = False
    completion: float | None = None


def update(run_id: str, *snaps: Snap, project: str = PROJECT) -> ingest_pb2.RunOperation:
    op = ingest_pb2.RunOperation(project=project, run_id=run_id)
    op.update_batch.SetInParent()
    for snap in snaps:
        msg = op.update_batch.snapshots.add()
        if snap.step is not None:
            step_msg(msg.step, snap.step)
        if snap.ts is not None:
            msg.timestamp.seconds = int(snap.ts)
            msg.timestamp.nanos = round((snap.ts - int(snap.ts)) * 1e9)
        if snap.preview:
            msg.preview.is_preview = True
            if snap.completion is not None:
                msg.preview.completion_ratio = snap.completion
        for path, value in snap.assign.items():
            set_value(msg.assign[path], value)
        for path, value in snap.append.items():
            set_value(msg.append[path], value)
        for path, tags in snap.add.items():
            for tag in tags:
                msg.modify_sets[path].string.values[tag] = common_pb2.SET_OPERATION.ADD
        for path, tags in snap.remove.items():
            for tag in tags:
                msg.modify_sets[path].string.values[tag] = common_pb2.SET_OPERATION.REMOVE
    return op


def metrics(
    run_id: str,
    series: Mapping[str, Iterable[float]],
    *,
    start: float = 0,
    ts0: float | None = None,
    project: str = PROJECT,
) -> ingest_pb2.RunOperation:
    """One snapshot per step, all series at each step (the client's log_metrics in a loop).

    Timestamps are one second per step from ``T0`` at step 0 unless ``ts0`` is given.
    """
    ts0 = T0 + start if ts0 is None else ts0
    columns = {k: list(v) for k, v in series.items()}
    n = len(next(iter(columns.values())))
    snaps = [
        Snap(step=start + i, ts=ts0 + i, append={k: float(v[i]) for k, v in columns.items()})
        for i in range(n)
    ]
    return update(run_id, *snaps, project=project)


def float_points(store: Store, run_id: str, path: str, project: str = PROJECT) -> np.ndarray:
    """The run's own committed points of a float series as an (n, 2) array of (step, value)."""
    with store.engine.read() as tx:
        proj = tx.project(project)
        assert proj is not None
        run = tx.run(proj.pk, run_id)
        assert run is not None
        state = tx.series(run.pk, [path]).get(path)
        if state is None or state.pk is None:
            return np.empty((0, 2))
        chunks = tx.chunks(state.pk, None, None)
    steps = np.concatenate([np.frombuffer(c.steps) for c in chunks] or [np.empty(0)])
    values = np.concatenate([np.frombuffer(c.values) for c in chunks] or [np.empty(0)])
    return np.stack([steps, values], axis=1)


def codes(issues: Iterable[Any]) -> dict[int, int]:
    """Ingest code -> count, over the issues of one operation."""
    out: dict[int, int] = {}
    for issue in issues:
        out[issue.code] = out.get(issue.code, 0) + issue.count
    return out
