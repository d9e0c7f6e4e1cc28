"""Float-series storage: bytes per point and speeds, raw chunks (before the codec) next to compact.

Run: ``python benchmarks/store/bench_codec.py [--steps 250000] [--postgres URL]``
(``eval "$(scripts/postgres-start)"`` gives a URL in $DESPINA_TEST_POSTGRES; the PostgreSQL rows
are left out without one).

The data is a realistic run (issue 21): 4 metrics × ``--steps`` steps, logged 1,000 steps per
operation as the client sends them: a noisy float64 loss, an accuracy that came from a float32
tensor, a noisy float64 GPU utilisation, a step-function learning rate; timestamps in ms, ~100 ms
apart with jitter. "raw" writes chunks as every despina before the codec did (the codec switched
off for the run); "compact" is today's store. Size is the whole SQLite database file after a WAL
checkpoint (PostgreSQL: the chunk table with its TOAST and indexes, after VACUUM FULL). Both
stores are read back and compared bit for bit before anything is printed.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from despina.query import Reader
from despina.store import _codec, open_store
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2

PROJECT = "bench/codec"
RUN = "run-mix"
STEPS_PER_OP = 1000
T0_MS = 1_700_000_000_000
REPEATS = 5
METRICS = ("train/loss", "train/accuracy", "system/gpu_util", "train/lr")


def mix(steps: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(21)
    x = np.arange(steps, dtype=np.float64)
    loss = 2.5 * np.exp(-x / (steps / 5)) + rng.normal(0, 0.02, steps)
    accuracy = np.float32(np.clip(1 - loss / 3 + rng.normal(0, 0.01, steps), 0, 1))
    gpu = np.clip(85 + rng.normal(0, 6, steps), 0, 100)
    lr = np.select([x < steps * 0.5, x < steps * 0.8], [1e-3, 1e-4], 1e-5)
    ts = T0_MS + np.cumsum(rng.integers(90, 111, steps))
    values = dict(zip(METRICS, (loss, accuracy.astype(np.float64), gpu, lr), strict=True))
    return ts, values


def operations(ts: np.ndarray, values: dict[str, np.ndarray]) -> list[ingest_pb2.RunOperation]:
    ops = []
    for first in range(0, len(ts), STEPS_PER_OP):
        op = ingest_pb2.RunOperation(project=PROJECT, run_id=RUN)
        for i in range(first, min(first + STEPS_PER_OP, len(ts))):
            snap = op.update_batch.snapshots.add()
            snap.step.whole = i
            snap.timestamp.seconds, ms = divmod(int(ts[i]), 1000)
            snap.timestamp.nanos = ms * 1_000_000
            for name, column in values.items():
                snap.append[name].float64 = float(column[i])
        ops.append(op)
    return ops


def create() -> ingest_pb2.RunOperation:
    op = ingest_pb2.RunOperation(project=PROJECT, run_id=RUN)
    op.create.family = RUN
    return op


@contextmanager
def codec_off(raw: bool) -> Iterator[None]:
    """Chunks written as before the codec (``raw``) or as today."""
    saved = _codec.ENCODE_FROM_POINTS
    _codec.ENCODE_FROM_POINTS = 10**12 if raw else saved
    try:
        yield
    finally:
        _codec.ENCODE_FROM_POINTS = saved


def ingest(location: str, ops: list[ingest_pb2.RunOperation], raw: bool) -> tuple[float, float]:
    with open_store(location) as store, codec_off(raw):
        store.apply([create()])
        wall, cpu = time.perf_counter(), time.process_time()
        for op in ops:
            (issues,) = store.apply([op])
            assert issues == (), issues
        return time.perf_counter() - wall, time.process_time() - cpu


def sqlite_bytes(folder: Path) -> int:
    database = folder / "despina.sqlite3"
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return database.stat().st_size


def postgres_bytes(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM FULL despina_float_chunks")  # count live rows, not replaced ones
        row = conn.execute("SELECT pg_total_relation_size('despina_float_chunks')").fetchone()
    assert row is not None
    return int(row[0])


def median_ms(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def reads(location: str, steps: int) -> tuple[float, float, list[np.ndarray]]:
    reader = Reader(location)
    try:
        frame = reader.fetch_metrics(PROJECT, [RUN], list(METRICS))
        columns = [frame[name].to_numpy(np.float64) for name in METRICS]
        assert all(len(c) == steps for c in columns), [len(c) for c in columns]
        fetch = median_ms(lambda: reader.fetch_metrics(PROJECT, [RUN], ["train/loss"]))
        buckets = median_ms(
            lambda: reader.fetch_metric_buckets(PROJECT, [RUN], ["train/loss"], limit=1000)
        )
        return fetch, buckets, columns
    finally:
        reader.close()


def scratch_postgres(base: str) -> tuple[str, Callable[[], None]]:
    import psycopg

    name = f"despina_codec_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = base.rsplit("/", 1)[0] + "/" + name

    def drop() -> None:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    return url, drop


def measure(
    engine: str, location: str, size: Callable[[], int], ops: list, points: int, raw: bool
) -> dict[str, object]:
    wall, cpu = ingest(location, ops, raw)
    fetch, buckets, columns = reads(location, points // len(METRICS))
    return {
        "engine": engine,
        "form": "raw (before)" if raw else "compact",
        "B/point": size() / points,
        "ingest wall": points / wall,
        "ingest CPU": points / cpu,
        "fetch": fetch,
        "buckets": buckets,
        "columns": columns,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=250_000)
    parser.add_argument("--postgres", default=os.environ.get("DESPINA_TEST_POSTGRES"))
    args = parser.parse_args()
    ts, values = mix(args.steps)
    ops = operations(ts, values)
    points = args.steps * len(METRICS)
    rows = []
    base = Path(tempfile.mkdtemp(prefix="despina-codec-"))
    for raw in (True, False):
        folder = base / ("raw" if raw else "compact")
        rows.append(
            measure("SQLite", str(folder), lambda f=folder: sqlite_bytes(f), ops, points, raw)
        )
    if args.postgres:
        os.environ.setdefault("DESPINA_FILES_DIR", str(base / "files"))
        for raw in (True, False):
            url, drop = scratch_postgres(args.postgres)
            try:
                rows.append(
                    measure("PostgreSQL", url, lambda u=url: postgres_bytes(u), ops, points, raw)
                )
            finally:
                drop()
    expected = [values[name] for name in METRICS]
    for row in rows:
        got = row.pop("columns")
        assert all(
            np.array_equal(a.view(np.uint64), b.view(np.uint64))
            for a, b in zip(got, expected, strict=True)
        ), f"{row['engine']} {row['form']}: read back differs"
    print(
        f"{len(METRICS)} metrics × {args.steps:,} steps = {points:,} points (read back bit-exact)"
    )
    header = (
        f"{'engine':<11} {'form':<13} {'B/point':>8} {'ingest pts/s (wall)':>20} "
        f"{'(CPU)':>12} {'fetch_metrics 1 series':>23} {'buckets → 1,000':>16}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['engine']:<11} {r['form']:<13} {r['B/point']:>8.2f} {r['ingest wall']:>20,.0f} "
            f"{r['ingest CPU']:>12,.0f} {r['fetch']:>20.1f} ms {r['buckets']:>13.1f} ms"
        )
    print("goal: ≤ 7 B/point (SQLite, compact); ingest and read speeds unchanged or better")
    print(f"(stores under {base})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
