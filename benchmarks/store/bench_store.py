"""Store benchmarks: apply throughput, buckets over 10M points, fetch_metrics of 1M points.

Run: ``python benchmarks/store/bench_store.py [--points 10000000] [--folder DIR]``. Prints one
table: each figure next to its target. Timings on a shared machine are noisy; the first row
(a bare Python loop) says how fast this machine is right now.
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
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2

from despina.query import Reader
from despina.store import open_store

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


def bench_apply(folder: Path, ops: int) -> float:
    store = open_store(folder / "apply")
    store.apply([create("run-apply")])
    batches = [
        batch("run-apply", k * SNAPSHOTS_PER_OP, METRICS_PER_SNAPSHOT, SNAPSHOTS_PER_OP)
        for k in range(ops)
    ]
    start = time.perf_counter()
    for op in batches:
        (issues,) = store.apply([op])
        assert issues == (), issues
    elapsed = time.perf_counter() - start
    store.close()
    return ops * SNAPSHOTS_PER_OP * METRICS_PER_SNAPSHOT / elapsed


def fill_long_series(folder: Path, points: int) -> float:
    """One series of ``points`` points, logged as 10,000-snapshot batches; returns points/s."""
    store = open_store(folder / "long")
    store.apply([create("run-long")])
    per_op = 10_000
    start = time.perf_counter()
    for first in range(0, points, per_op):
        (issues,) = store.apply([batch("run-long", first, 1, min(per_op, points - first))])
        assert issues == (), issues
    elapsed = time.perf_counter() - start
    store.close()
    return points / elapsed


def timed(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=10_000_000, help="long series length")
    parser.add_argument("--apply-ops", type=int, default=100, help="10,000-point ops to apply")
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="despina-bench-"))
    rows = [("python loop (machine speed reference)", f"{python_loop_ns():.0f} ns/iter", "")]
    rate = bench_apply(folder, args.apply_ops)
    rows.append(
        (
            f"apply, {SNAPSHOTS_PER_OP}×{METRICS_PER_SNAPSHOT} points per op",
            f"{rate:,.0f} points/s",
            "≥ 1,000,000 points/s",
        )
    )
    fill = fill_long_series(folder, args.points)
    rows.append(("apply, 10,000 points of one series per op", f"{fill:,.0f} points/s", ""))
    reader = Reader(folder / "long")
    name = "train/metric_0"
    frame = reader.fetch_metric_buckets(PROJECT, ["run-long"], [name], limit=1000)
    assert int(frame["count"].sum()) == args.points, frame["count"].sum()
    t = timed(lambda: reader.fetch_metric_buckets(PROJECT, ["run-long"], [name], limit=1000))
    rows.append((f"buckets: {args.points:,} points → 1,000", f"{t * 1000:.0f} ms", "≤ 200 ms"))
    million = min(1_000_000, args.points)
    got = reader.fetch_metrics(PROJECT, ["run-long"], [name], step_range=(0, million - 1))
    assert len(got) == million, len(got)
    t = timed(
        lambda: reader.fetch_metrics(PROJECT, ["run-long"], [name], step_range=(0, million - 1))
    )
    rows.append((f"fetch_metrics: {million:,} points", f"{t * 1000:.0f} ms", "≤ 1,000 ms"))
    reader.close()
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'result':>22}  target")
    for label, result, target in rows:
        print(f"{label:<{width}}  {result:>22}  {target}")
    print(f"(store folder: {folder})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
