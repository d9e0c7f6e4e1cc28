"""LocalTransport: the client's way into the embedded store, fed with serialized RunOperations."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from despina.store import open_store
from despina.store.transport import LocalTransport
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode as C
from neptune_scale.transport import Failed, Processed, Submitted, Transport
from opbuild import PROJECT, codes, create, float_points, metrics


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
