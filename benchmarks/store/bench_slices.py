"""How long one big operation holds the store's writer, applied whole or in slices (``_slices``).

Run: ``python benchmarks/store/bench_slices.py [--assigns 200000] [--points 1000000]
[--postgres URL]``. For each operation (one snapshot of string assigns; a batch of float points
as a training loop sends them) and each engine, prints side by side, applied in one transaction
(the slice budget set beyond the operation) and in slices (the default): the total apply time,
the longest time one write transaction held the lock, and the longest wait of another writer
that writes every 10 ms meanwhile (a thread with its own store object, as another process).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from despina.store import Store, open_store, parse_operation
from despina.store import _slices as slices
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2

PROJECT = "bench/slices"
METRICS = 10
OTHER_WRITER_PAUSE_S = 0.01
T0_S = 1_700_000_000


def assigns_op(count: int) -> bytes:
    op = ingest_pb2.RunOperation(project=PROJECT, run_id="big")
    snap = op.update_batch.snapshots.add()
    for i in range(count):
        snap.assign[f"config/{i:07d}"].string = f"value {i}"
    return op.SerializeToString()


def points_op(points: int) -> bytes:
    op = ingest_pb2.RunOperation(project=PROJECT, run_id="big")
    for step in range(points // METRICS):
        snap = op.update_batch.snapshots.add()
        snap.step.whole = step
        snap.timestamp.seconds = T0_S + step
        for m in range(METRICS):
            snap.append[f"train/m{m}"].float64 = step * 0.5 + m
    return op.SerializeToString()


def create(run_id: str) -> ingest_pb2.RunOperation:
    op = ingest_pb2.RunOperation(project=PROJECT, run_id=run_id)
    op.create.family = run_id
    return op


@contextlib.contextmanager
def lock_holds(store: Store, holds: list[float]) -> Iterator[None]:
    """Record how long each write transaction of ``store`` lasts."""
    original = store.engine.write

    @contextlib.contextmanager
    def timed_write() -> Iterator[object]:
        with original() as tx:
            start = time.perf_counter()
            yield tx
        holds.append(time.perf_counter() - start)

    store.engine.write = timed_write  # type: ignore[method-assign]
    try:
        yield
    finally:
        store.engine.write = original  # type: ignore[method-assign]


@contextlib.contextmanager
def budget(value: int | None) -> Iterator[None]:
    """None = the default slices; a number = that budget (beyond the op: one transaction)."""
    saved = slices.SLICE_BUDGET, slices.MAX_SLICE_ITEMS
    if value is not None:
        slices.SLICE_BUDGET, slices.MAX_SLICE_ITEMS = value, value
    try:
        yield
    finally:
        slices.SLICE_BUDGET, slices.MAX_SLICE_ITEMS = saved


def measure(location: str, body: bytes, whole: bool) -> tuple[float, float, float]:
    """(total apply s, longest lock hold s, longest wait of the other writer s)."""
    with open_store(location) as big, open_store(location) as other:
        big.apply([create("big"), create("other")])
        operation = parse_operation(body)
        holds: list[float] = []
        waits: list[float] = []
        done = threading.Event()

        def write_meanwhile() -> None:
            while not done.is_set():
                start = time.perf_counter()
                other.apply([counter_op(len(waits))])
                waits.append(time.perf_counter() - start)
                time.sleep(OTHER_WRITER_PAUSE_S)

        writer = threading.Thread(target=write_meanwhile)
        with budget(10**12 if whole else None), lock_holds(big, holds):
            writer.start()
            start = time.perf_counter()
            big.apply([operation])
            total = time.perf_counter() - start
            done.set()
            writer.join()
    return total, max(holds), max(waits, default=0.0)


def counter_op(n: int) -> ingest_pb2.RunOperation:
    op = ingest_pb2.RunOperation(project=PROJECT, run_id="other")
    op.update_batch.snapshots.add().assign["counter"].int64 = n
    return op


def locations(postgres: str | None, folder: Path) -> Iterator[tuple[str, str]]:
    for i in range(4):
        yield "sqlite", str(folder / f"sqlite-{i}")
    if postgres:
        import psycopg

        for i in range(4):
            schema = f"bench_slices_{os.getpid()}_{i}"
            with psycopg.connect(postgres, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            yield "postgres", f"{postgres}?options=-csearch_path%3D{schema}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assigns", type=int, default=200_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--postgres", default=os.environ.get("DESPINA_TEST_POSTGRES"))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-slices-"))
    os.environ.setdefault("DESPINA_FILES_DIR", str(folder / "files"))
    bodies = {
        f"{args.assigns:,} string assigns, one snapshot": assigns_op(args.assigns),
        f"{args.points:,} float points, {METRICS} per snapshot": points_op(args.points),
    }
    rows = []
    places = list(locations(args.postgres, folder))
    engines = ["sqlite"] + (["postgres"] if args.postgres else [])
    by_engine: dict[str, list[str]] = {e: [] for e in engines}
    for engine, location in places:
        by_engine[engine].append(location)
    for engine in engines:
        spare = iter(by_engine[engine])
        for name, body in bodies.items():
            whole = measure(next(spare), body, whole=True)
            sliced = measure(next(spare), body, whole=False)
            rows.append((engine, name, whole, sliced))
    header = f"{'engine':9} {'operation':42} {'':28} {'one transaction':>16} {'slices':>10}"
    print(header)
    print("-" * len(header))
    labels = ("apply, total s", "longest lock hold s", "other writer's worst wait s")
    for engine, name, whole, sliced in rows:
        for k, label in enumerate(labels):
            first = f"{engine:9} {name:42}" if k == 0 else " " * 52
            print(f"{first} {label:28} {whole[k]:16.2f} {sliced[k]:10.2f}")
    print(f"\nload average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.postgres:
        import psycopg

        with psycopg.connect(args.postgres, autocommit=True) as conn:
            for engine, location in places:
                if engine == "postgres":
                    conn.execute(f"DROP SCHEMA {location.rsplit('%3D', 1)[1]} CASCADE")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
