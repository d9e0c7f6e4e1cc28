"""Store benchmarks: apply throughput, buckets over 10M points, fetch_metrics of 1M points.

Run: ``python benchmarks/store/bench_store.py [--points 10000000] [--folder DIR]``. Prints one
table: each figure next to its target, measured as wall-clock time and as this process's CPU
time (on a shared machine the wall clock also counts waiting for the CPU and for fsync). The
first row (a bare Python loop) says how fast this machine is right now.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from despina.query import Reader
from despina.store import open_store
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2

PROJECT = "bench/store"
SNAPSHOTS_PER_OP = 1000
METRICS_PER_SNAPSHOT = 10
T0_S = 1_700_000_000
REPEATS = 5


def batch(run_id: str, first_step: int, metrics: int, snapshots: int) -> ingest_pb2.RunOperation:
    """One RunOperation as the client sends it: ``snapshots`` steps × ``metrics`` float series."""
    op = ingest_pb2.RunOperation(project=PROJECT, run_id=run_id)
    names = [f"train/metric_{i}" for i in range(metrics)]
    rng = np.random.default_rng(first_step)
    values = rng.random((snapshots, metrics))
    for i in range(snapshots):
        snap = op.update_batch.snapshots.add()
        snap.step.whole = first_step + i
        snap.timestamp.seconds = T0_S + first_step + i
        for name, value in zip(names, values[i], strict=True):
            snap.append[name].float64 = float(value)
    return op


def create(run_id: str) -> ingest_pb2.RunOperation:
    op = ingest_pb2.RunOperation(project=PROJECT, run_id=run_id)
    op.create.family = run_id
    return op


def python_loop_ns() -> float:
    start = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i
    return (time.perf_counter() - start) / 2_000_000 * 1e9


class Clock:
    """Wall-clock and CPU seconds of a block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def bench_apply(folder: Path, ops: int) -> Clock:
    store = open_store(folder / "apply")
    store.apply([create("run-apply")])
    batches = [
        batch("run-apply", k * SNAPSHOTS_PER_OP, METRICS_PER_SNAPSHOT, SNAPSHOTS_PER_OP)
        for k in range(ops)
    ]
    with Clock() as clock:
        for op in batches:
            (issues,) = store.apply([op])
            assert issues == (), issues
    store.close()
    return clock


def fill_long_series(folder: Path, points: int, per_op: int) -> Clock:
    """One series of ``points`` points, logged as ``per_op``-snapshot batches (building the
    messages is not timed)."""
    store = open_store(folder / "long")
    store.apply([create("run-long")])
    clock = Clock()
    clock.wall = clock.cpu = 0.0
    for first in range(0, points, per_op):
        op = batch("run-long", first, 1, min(per_op, points - first))
        with Clock() as one:
            (issues,) = store.apply([op])
        assert issues == (), issues
        clock.wall += one.wall
        clock.cpu += one.cpu
    store.close()
    return clock


def timed(fn: Callable[[], object]) -> Clock:
    """Median wall and CPU time over REPEATS calls."""
    clocks = []
    for _ in range(REPEATS):
        with Clock() as clock:
            fn()
        clocks.append(clock)
    median = Clock()
    median.wall = statistics.median(c.wall for c in clocks)
    median.cpu = statistics.median(c.cpu for c in clocks)
    return median


def rate(points: int, clock: Clock) -> tuple[str, str]:
    return f"{points / clock.wall:,.0f} points/s", f"{points / clock.cpu:,.0f} points/s"


def ms(clock: Clock) -> tuple[str, str]:
    return f"{clock.wall * 1000:,.0f} ms", f"{clock.cpu * 1000:,.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=10_000_000, help="long series length")
    parser.add_argument("--apply-ops", type=int, default=100, help="10,000-point ops to apply")
    parser.add_argument("--fill-batch", type=int, default=50_000, help="points per op, long series")
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="despina-bench-"))
    rows = [("python loop (machine speed reference)", f"{python_loop_ns():.0f} ns/iter", "", "")]
    applied = args.apply_ops * SNAPSHOTS_PER_OP * METRICS_PER_SNAPSHOT
    label = f"apply, {SNAPSHOTS_PER_OP}×{METRICS_PER_SNAPSHOT} points per op"
    rows.append(
        (label, *rate(applied, bench_apply(folder, args.apply_ops)), "≥ 1,000,000 points/s")
    )
    fill = fill_long_series(folder, args.points, args.fill_batch)
    label = f"apply, {args.fill_batch:,} points of one series per op"
    rows.append((label, *rate(args.points, fill), ""))
    reader = Reader(folder / "long")
    name = "train/metric_0"
    frame = reader.fetch_metric_buckets(PROJECT, ["run-long"], [name], limit=1000)
    assert int(frame["count"].sum()) == args.points, frame["count"].sum()
    clock = timed(lambda: reader.fetch_metric_buckets(PROJECT, ["run-long"], [name], limit=1000))
    rows.append((f"buckets: {args.points:,} points → 1,000", *ms(clock), "≤ 200 ms"))
    million = min(1_000_000, args.points)
    got = reader.fetch_metrics(PROJECT, ["run-long"], [name], step_range=(0, million - 1))
    assert len(got) == million, len(got)
    window = (0, million - 1)
    clock = timed(lambda: reader.fetch_metrics(PROJECT, ["run-long"], [name], step_range=window))
    rows.append((f"fetch_metrics: {million:,} points", *ms(clock), "≤ 1,000 ms"))
    reader.close()
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'wall clock':>20}  {'CPU time':>20}  target")
    for label, wall, cpu, target in rows:
        print(f"{label:<{width}}  {wall:>20}  {cpu:>20}  {target}")
    print(f"(store folder: {folder})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
