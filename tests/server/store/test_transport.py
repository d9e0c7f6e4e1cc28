"""LocalTransport: the client's way into the embedded store, fed with serialized RunOperations."""

from __future__ import annotations

import threading
import time
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from despina.store import open_store
from despina.store.transport import LocalTransport
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode as C
from neptune_scale.transport import Failed, Processed, Submitted, Transport
from support.opbuild import PROJECT, codes, create, float_points, metrics


def test_entry_point_names_the_local_transport() -> None:
    (found,) = [ep for ep in entry_points(group="neptune_scale.transports") if ep.name == "local"]
    assert found.load() is LocalTransport


def test_submit_applies_and_check_reports_issues(tmp_path: Path) -> None:
    transport = LocalTransport(tmp_path)
    assert isinstance(transport, Transport)
    first = transport.submit(PROJECT, "a", create("a", experiment="e").SerializeToString())
    second = transport.submit(PROJECT, "a", metrics("a", {"loss": [1.0, 0.5]}).SerializeToString())
    replay = transport.submit(PROJECT, "a", metrics("a", {"loss": [1.0, 0.5]}).SerializeToString())
    assert all(isinstance(r, Submitted) for r in (first, second, replay))
    ids = [r.request_id for r in (first, second, replay)]  # type: ignore[union-attr]
    assert len(set(ids)) == 3
    statuses = transport.check(PROJECT, ids)
    assert isinstance(statuses, list)
    assert statuses[:2] == [Processed(()), Processed(())]
    assert isinstance(statuses[2], Processed)
    assert codes(statuses[2].issues) == {C.SERIES_POINT_DUPLICATE: 2}
    transport.close()
    with open_store(tmp_path, create=False) as store:  # durable: readable by another opener
        assert float_points(store, "a", "loss").tolist() == [[0, 1.0], [1, 0.5]]


def test_garbage_bytes_fail_without_retry(tmp_path: Path) -> None:
    result = LocalTransport(tmp_path).submit(PROJECT, "a", b"\xff\xff\xff")
    assert isinstance(result, Failed) and not result.retryable


def test_upload_file_copies_into_the_store(tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights" * 1000)
    transport = LocalTransport(tmp_path / "store")
    assert (
        transport.upload_file(PROJECT, "run-a/model/none/model.bin", source, "application/x")
        is None
    )
    bad = transport.upload_file(PROJECT, "../escape.bin", source, "application/x")
    assert isinstance(bad, Failed) and not bad.retryable
    missing = transport.upload_file(PROJECT, "x.bin", tmp_path / "nope", "application/x")
    assert isinstance(missing, Failed)
    transport.close()
    with (
        open_store(tmp_path / "store") as store,
        store.open_file(PROJECT, "run-a/model/none/model.bin") as f,
    ):
        assert f.read() == b"weights" * 1000


def test_concurrent_first_uploads_open_one_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client runs several upload slots at once; on a fresh transport (a recovering run
    whose log starts with files) they all need the store first: exactly one is opened."""
    from despina.store import transport as transport_module

    opened: list[object] = []
    real_open = transport_module.open_store

    def counting_open(location: object) -> object:
        time.sleep(0.05)  # widen the window in which a second opener could slip in
        store = real_open(location)  # type: ignore[arg-type]
        opened.append(store)
        return store

    monkeypatch.setattr(transport_module, "open_store", counting_open)
    transport = LocalTransport(tmp_path)
    sources = []
    for i in range(8):
        source = tmp_path / f"f{i}.txt"
        source.write_text(f"file {i}")
        sources.append(source)
    barrier = threading.Barrier(len(sources))
    results: list[object] = [...] * len(sources)

    def upload(i: int) -> None:
        barrier.wait()
        results[i] = transport.upload_file(PROJECT, f"files/{i}", sources[i], "text/plain")

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(sources))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    transport.close()
    assert results == [None] * len(sources)
    assert len(opened) == 1
