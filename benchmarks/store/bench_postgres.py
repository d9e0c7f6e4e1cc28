"""PostgreSQL engine benchmark, side by side with SQLite on the same batches in one run.

Run: ``eval "$(scripts/postgres-start)"; python benchmarks/store/bench_postgres.py [--url URL]``
(the URL defaults to $DESPINA_TEST_POSTGRES; a scratch database is created and dropped). Prints
one table: apply points/s for each engine (one writer, and several writer processes on different
runs), then fetch_metrics of 1M points and buckets of them. Figures on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench_store import PROJECT, SNAPSHOTS_PER_OP, batch, create
from despina.query import Reader
from despina.store import open_store

METRICS = 10  # float series per snapshot, as in bench_store
WRITERS = 2  # one per core of the benchmark machine
LONG_POINTS = 1_000_000
REPEATS = 5


def timed(fn: Callable[[], object]) -> float:
    """Median wall seconds over REPEATS calls."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def python_loop_ns() -> float:
    """A bare Python loop: how fast this (shared) machine is right now."""
    start = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i
    return (time.perf_counter() - start) / 2_000_000 * 1e9


def _apply(location: str, run_id: str, ops: int, ready: Any = None) -> float:
    """Points/s applying ``ops`` batches of SNAPSHOTS_PER_OP × METRICS points to one run.

    ``ready`` (a barrier) is passed once the batches are built, so parallel writers start
    together and building the messages is never timed.
    """
    store = open_store(location)
    store.apply([create(run_id)])
    batches = [batch(run_id, k * SNAPSHOTS_PER_OP, METRICS, SNAPSHOTS_PER_OP) for k in range(ops)]
    if ready is not None:
        ready.wait()
    start = time.perf_counter()
    for op in batches:
        (issues,) = store.apply([op])
        assert issues == (), issues
    elapsed = time.perf_counter() - start
    store.close()
    return ops * SNAPSHOTS_PER_OP * METRICS / elapsed


def _parallel(location: str, ops: int) -> float:
    """Aggregate points/s of WRITERS processes, each writing its own run."""
    open_store(location).close()
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Barrier(WRITERS + 1)
    procs = [
        ctx.Process(target=_apply, args=(location, f"par-{i}", ops, ready)) for i in range(WRITERS)
    ]
    for p in procs:
        p.start()
    ready.wait()
    start = time.perf_counter()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - start
    assert all(p.exitcode == 0 for p in procs)
    return WRITERS * ops * SNAPSHOTS_PER_OP * METRICS / elapsed


def _reads(location: str) -> tuple[float, float]:
    """Seconds for fetch_metrics of LONG_POINTS points and for 1,000 buckets of them."""
    store = open_store(location)
    store.apply([create("long")])
    for first in range(0, LONG_POINTS, 10_000):
        store.apply([batch("long", first, 1, 10_000)])
    reader = Reader(store)
    name = "train/metric_0"
    assert len(reader.fetch_metrics(PROJECT, ["long"], [name])) == LONG_POINTS
    fetch = timed(lambda: reader.fetch_metrics(PROJECT, ["long"], [name]))
    buckets = timed(lambda: reader.fetch_metric_buckets(PROJECT, ["long"], [name], limit=1000))
    store.close()
    return fetch, buckets


def _scratch_database(admin_url: str) -> tuple[str, str]:
    import psycopg

    name = f"despina_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin_url)
    return name, urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def _drop(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _rows(locations: dict[str, str], ops: int) -> list[tuple[str, str, str]]:
    rows = [("python loop (machine speed reference)", f"{python_loop_ns():.0f} ns/iter", "")]
    for engine, location in locations.items():
        rate = _apply(location, "single", ops)
        rows.append((f"{engine}: apply, 1 writer", f"{rate:,.0f} points/s", ""))
        rate = _parallel(location, ops)
        rows.append((f"{engine}: apply, {WRITERS} writer processes", f"{rate:,.0f} points/s", ""))
        fetch, buckets = _reads(location)
        rows.append(
            (f"{engine}: fetch_metrics {LONG_POINTS:,} points", f"{fetch * 1000:.0f} ms", "")
        )
        rows.append((f"{engine}: buckets {LONG_POINTS:,} → 1,000", f"{buckets * 1000:.0f} ms", ""))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=os.environ.get("DESPINA_TEST_POSTGRES"))
    parser.add_argument("--ops", type=int, default=50, help="10,000-point batches per writer")
    args = parser.parse_args()
    if not args.url:
        parser.error('no PostgreSQL: pass --url or eval "$(scripts/postgres-start)" first')
    folder = Path(tempfile.mkdtemp(prefix="despina-bench-pg-"))
    os.environ["DESPINA_FILES_DIR"] = str(folder / "files")
    name, url = _scratch_database(args.url)
    try:
        rows = _rows({"sqlite": str(folder / "store"), "postgres": url}, args.ops)
    finally:
        _drop(args.url, name)
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'result':>18}")
    for label, result, _ in rows:
        print(f"{label:<{width}}  {result:>18}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
