"""One operation of many string assigns (the protocol lets a request carry 16 MiB: about a million
of them, 15-25 s of work) must not hold the store's single writer all that time: it is applied in
slices, and a writer that waits meanwhile gets its turn between two of them (issue 12, item 13).

The big operation runs in one thread; another thread writes every few milliseconds, through the
same store object (as a server's threads do) or its own (as another process would), and looks,
inside its write transaction, at how many of a sample of the big operation's attributes are
stored. Seeing some but not all proves it took the write lock between two slices. The stored
result must be what one transaction would have stored, issues included.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from despina.query import Reader
from despina.store import Store, open_store, parse_operation
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation
from support.adv_limits_support import Ingest, serve

PROJECT = "ws/p"
SLICES = 6
ITEMS = 10_000 * SLICES  # _slices.MAX_SLICE_ITEMS per slice, in one snapshot
SAMPLE = [f"config/{i:06d}" for i in range(0, ITEMS, 1000)]
OTHER_WRITER_PAUSE_S = 0.01  # a writer busy without pause would starve any other process's


@pytest.fixture
def ingest(store_location: str) -> Iterator[Ingest]:
    yield from serve(store_location)


def _create(run_id: str) -> RunOperation:
    op = RunOperation(project=PROJECT, run_id=run_id)
    op.create.family = run_id
    return op


def _big_assigns() -> bytes:
    """One snapshot of ITEMS string assigns, plus two read-only paths (refused, one issue)."""
    op = RunOperation(project=PROJECT, run_id="big")
    snap = op.update_batch.snapshots.add()
    for i in range(ITEMS):
        snap.assign[f"config/{i:06d}"].string = f"value {i}"
    snap.assign["sys/first"].int64 = 1
    last = op.update_batch.snapshots.add()
    last.assign["sys/first"].int64 = 2
    last.step.whole = 1
    last.append["loss"].float64 = 0.5
    return op.SerializeToString()


def _write_while(running: threading.Thread, store: Store, big_pk: int, other_pk: int) -> list[int]:
    """Small writes until ``running`` ends; each notes how many SAMPLE attributes it saw."""
    seen = []
    while running.is_alive():
        with store.engine.write() as tx:
            seen.append(len(tx.attributes(big_pk, SAMPLE)))
            tx.put_attributes(other_pk, {"counter": ("int", str(len(seen)))})
        time.sleep(OTHER_WRITER_PAUSE_S)
    return seen


@pytest.mark.parametrize("writers", ["one-store-object", "two-store-objects"])
def test_a_big_operation_is_applied_in_slices_that_let_other_writers_in(
    store_location: str, writers: str
) -> None:
    with open_store(store_location) as big, open_store(store_location) as second:
        small = big if writers == "one-store-object" else second
        big.apply([_create("big"), _create("other")])
        with small.engine.read() as tx:
            project = tx.project(PROJECT)
            assert project is not None
            pks = [tx.run(project.pk, r) for r in ("big", "other")]
        big_pk, other_pk = (run.pk for run in pks if run is not None)
        operation = parse_operation(_big_assigns())
        results: list[object] = []
        worker = threading.Thread(target=lambda: results.extend(big.apply([operation])))
        worker.start()
        seen = _write_while(worker, small, big_pk, other_pk)
        worker.join()
    assert any(0 < n < len(SAMPLE) for n in seen), seen  # a write landed between two slices
    ((issue,),) = results  # type: ignore[misc]
    assert (issue.code, issue.path, issue.count) == (
        IngestCode.FIELD_PATH_NON_WRITABLE,
        "sys/first",
        2,
    )
    with Reader(store_location) as reader:
        table = reader.fetch_runs_table(PROJECT, ["big"], attributes=r"^config/00000[0-4]$|^loss$")
        assert reader.run_details(PROJECT, "big")["configs"]["config/059999"] == "value 59999"
        assert reader.run_details(PROJECT, "other")["configs"]["counter"] == len(seen)
    assert table.loc["big"].to_dict() == {
        **{f"config/{i:06d}": f"value {i}" for i in range(5)},
        "loss": 0.5,
    }


def test_a_big_operation_over_http_is_stored_whole(ingest: Ingest, store_location: str) -> None:
    assert ingest.post(_create("big").SerializeToString()) == (200, [])
    status, issues = ingest.post(_big_assigns())
    assert (status, [code for code, _ in issues]) == (200, [IngestCode.FIELD_PATH_NON_WRITABLE])
    with Reader(store_location) as reader:
        configs = reader.run_details(PROJECT, "big")["configs"]
    assert len([p for p in configs if p.startswith("config/")]) == ITEMS
