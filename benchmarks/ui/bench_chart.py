"""The chart endpoint alone: ``GET /ui-api/metric`` (and ``/metric/tail``) of the real UI app.

No browser: the app runs in process behind Starlette's TestClient, over a real SQLite (or
PostgreSQL) store written once through ``Store.apply``. ``base`` has ``--points`` steps of
``train/loss``; ``fork`` forks it half way and logs as many steps again, so its chart reads
through lineage; ``small`` has 400 steps (a chart of exact points).

    python benchmarks/ui/bench_chart.py [--data .cache/bench-chart] [--points 1000000] [--db URL]

Each request is timed on a fresh app (cold: no cache of buckets or fork steps; one
``/ui-api/projects`` call first opens its reader) and again on the
same app (warm, the median of the repeats). ``reads`` counts the store's read transactions that
one cold request opened. Prints one table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2 as common
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation

PROJECT = "bench/chart"
METRIC = "train/loss"
PER_OPERATION = 20_000
SMALL_POINTS = 400
REPEATS = 5
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def _stamp(seconds: float) -> Any:
    ts = common.google_dot_protobuf_dot_timestamp__pb2.Timestamp()
    ts.FromDatetime(T0 + dt.timedelta(seconds=seconds))
    return ts


def _create(run_id: str, fork: tuple[str, int] | None = None) -> RunOperation:
    run = common.Run(family=run_id, experiment_id=run_id, creation_time=_stamp(0))
    if fork is not None:
        run.fork_point.parent_project = PROJECT
        run.fork_point.parent_run_id = fork[0]
        run.fork_point.step.whole = fork[1]
    return RunOperation(project=PROJECT, run_id=run_id, create=run)


def _points(store: Any, run_id: str, first: int, last: int) -> None:
    for start in range(first, last, PER_OPERATION):
        snapshots = []
        for step in range(start, min(last, start + PER_OPERATION)):
            snap = common.UpdateRunSnapshot(step=common.Step(whole=step), timestamp=_stamp(step))
            snap.append[METRIC].float64 = 1.0 / (1 + step * 1e-4) + (step % 1000 == 0)
            snapshots.append(snap)
        batch = common.UpdateRunSnapshots(snapshots=snapshots)
        (issues,) = store.apply([RunOperation(project=PROJECT, run_id=run_id, update_batch=batch)])
        if issues:
            raise SystemExit(f"the store refused benchmark data: {issues[:3]}")


def prepare(location: str, points: int, marker: Path | None) -> None:
    from despina.store import open_store

    if marker is not None and marker.exists():
        return
    print(f"writing the benchmark store into {location} (once)", file=sys.stderr)
    with open_store(location) as store:
        store.apply([_create("base")])
        _points(store, "base", 0, points)
        store.apply([_create("fork", ("base", points // 2))])
        _points(store, "fork", points // 2 + 1, points // 2 + points)
        store.apply([_create("small")])
        _points(store, "small", 0, SMALL_POINTS)
    if marker is not None:
        marker.write_text("ok\n")


@contextmanager
def counted_reads(store: Any) -> Iterator[list[int]]:
    """Counts the read transactions the store's engine opens (``engine.read()`` calls)."""
    engine, count = store.engine, [0]
    original = engine.read

    def read() -> Any:
        count[0] += 1
        return original()

    engine.read = read
    try:
        yield count
    finally:
        del engine.read  # the instance attribute goes; the class's method shows again


def _client(store: Any) -> Any:
    from despina.ui import create_app
    from fastapi.testclient import TestClient

    return TestClient(create_app(store), base_url="http://127.0.0.1")


def _get(client: Any, path: str, params: dict[str, Any]) -> None:
    answer = client.get(path, params={"project": PROJECT, **params})
    answer.raise_for_status()


def measure(store: Any, points: int) -> list[tuple[str, float, float, int]]:
    middle = points // 2
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("exact: 400 points, 1 run", "/ui-api/metric", {"run": "small", "attribute": METRIC}),
        (f"buckets: {points:,} points", "/ui-api/metric", {"run": "base", "attribute": METRIC}),
        (f"buckets: fork of {points:,} + {points:,}", "/ui-api/metric",
         {"run": "fork", "attribute": METRIC}),
        ("buckets: base + fork + small", "/ui-api/metric",
         {"run": ["base", "fork", "small"], "attribute": METRIC}),
        ("zoom: 300 steps around the fork", "/ui-api/metric",
         {"run": "fork", "attribute": METRIC, "from": middle - 150, "to": middle + 150}),
        ("x = time: 400 points", "/ui-api/metric",
         {"run": "small", "attribute": METRIC, "x": "time"}),
        ("tail: last 100 points of the fork", "/ui-api/metric/tail",
         {"run": "fork", "attribute": METRIC, "after": middle + points - 101}),
    ]  # fmt: skip
    rows = []
    for name, path, params in calls:
        cold = []
        for _ in range(REPEATS):
            client = _client(store)
            _get(client, "/ui-api/projects", {})  # opens the app's reader: not the chart's cost
            with counted_reads(store) as reads:
                start = time.perf_counter()
                _get(client, path, params)
                cold.append(time.perf_counter() - start)
        warm = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            _get(client, path, params)
            warm.append(time.perf_counter() - start)
        rows.append((name, statistics.median(cold), statistics.median(warm), reads[0]))
    return rows


def main(argv: list[str] | None = None) -> int:
    from despina.store import open_store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(".cache/bench-chart"))
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--db", help="a postgresql:// URL instead of a folder under --data")
    args = parser.parse_args(argv)
    if args.db:
        location, marker = args.db, None
    else:
        folder = args.data / f"p{args.points}"
        folder.mkdir(parents=True, exist_ok=True)
        location, marker = str(folder), folder / "bench.done"
    prepare(location, args.points, marker)
    with open_store(location) as store:
        rows = measure(store, args.points)
    print(f"{'GET /ui-api/metric (chart)':<40} {'cold ms':>9} {'warm ms':>9} {'reads':>6}")
    for name, cold, warm, reads in rows:
        print(f"{name:<40} {cold * 1000:>9.1f} {warm * 1000:>9.1f} {reads:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
