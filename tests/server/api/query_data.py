"""A small project for the read-side tests: two runs and a fork, written through ``Store.apply``.

``team/read``: run ``a`` (experiment ``exp``; configs, tags, 2,500 loss points, a string series, a
histogram), run ``b`` forked from ``a`` at step 1,000 (same experiment, so the head), and run
``c`` (experiment ``other``, lr 0.5).
"""

from __future__ import annotations

from typing import Any

from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2

PROJECT = "team/read"
T0_S = 1_700_000_000
LOSS_POINTS = 2500
FORK_STEP = 1000
B_POINTS = 300  # b logs steps 1001..1300


def loss(step: float) -> float:
    return 1.0 / (step + 1)


def _step(target: common_pb2.Step, step: float) -> None:
    target.whole = int(step)


def create(run_id: str, experiment: str, fork: str | None = None, at: int = 0) -> Any:
    op = ingest_pb2.RunOperation(project=PROJECT, run_id=run_id)
    op.create.family = run_id
    op.create.experiment_id = experiment
    op.create.inherit_configs = True
    op.create.creation_time.seconds = T0_S + at
    if fork is not None:
        op.create.fork_point.parent_project = PROJECT
        op.create.fork_point.parent_run_id = fork
        _step(op.create.fork_point.step, FORK_STEP)
    return op


def update(run_id: str) -> Any:
    op = ingest_pb2.RunOperation(project=PROJECT, run_id=run_id)
    op.update_batch.SetInParent()
    return op


def snapshot(op: Any, step: int | None = None) -> Any:
    snap = op.update_batch.snapshots.add()
    snap.timestamp.seconds = T0_S + (step or 0)
    if step is not None:
        _step(snap.step, step)
    return snap


def operations() -> list[Any]:
    a = update("a")
    configs = snapshot(a)
    configs.assign["params/lr"].float64 = 0.01
    configs.assign["params/batch"].int64 = 64
    configs.assign["params/opt"].string = "adam"
    configs.assign["params/ok"].bool = True
    for tag in ("baseline", "x"):
        configs.modify_sets["sys/tags"].string.values[tag] = common_pb2.SET_OPERATION.ADD
    for step in range(LOSS_POINTS):
        snapshot(a, step).append["train/loss"].float64 = loss(step)
    for step, text in ((1, "first"), (2, "second"), (3, "third")):
        snapshot(a, step).append["notes/text"].string = text
    hist = snapshot(a, 5).append["weights/hist"].histogram
    hist.bin_edges.extend([0.0, 1.0, 2.0])
    hist.counts.values.extend([3, 4])
    b = update("b")
    for step in range(FORK_STEP + 1, FORK_STEP + 1 + B_POINTS):
        snapshot(b, step).append["train/loss"].float64 = -float(step)
    c = update("c")
    snapshot(c).assign["params/lr"].float64 = 0.5
    snapshot(c, 0).append["train/loss"].float64 = 7.0
    return [
        create("a", "exp"),
        a,
        create("b", "exp", fork="a", at=10),
        b,
        create("c", "other", at=20),
        c,
    ]
