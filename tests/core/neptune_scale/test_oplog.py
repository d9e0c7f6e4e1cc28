"""The durable operation log: records as protobuf fields, segments, marks, batches, concurrent
reading, recovery of a torn tail and of a power loss."""

from __future__ import annotations

import collections
import os
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2
from neptune_scale import _mapped, _oplog
from neptune_scale._oplog import KIND_CREATE, KIND_FILE, KIND_SNAPSHOT, LogWriter
from neptune_scale._oplog import read as _oplog_read
from neptune_scale._oplog.read import LogReader
from support.oplog_frames import frames

SMALL_SEGMENT = 4096


@pytest.fixture
def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_oplog, "SEGMENT_BYTES", SMALL_SEGMENT)


def snapshot(i: int) -> bytes:
    """A framed UpdateRunSnapshot (one UpdateRunSnapshots.snapshots entry) of varying size."""
    batch = common_pb2.UpdateRunSnapshots()
    snap = batch.snapshots.add()
    snap.step.whole = i
    for k in range(1 + i % 7):
        snap.append[f"metric/{k}"].float64 = i * 0.5
    return batch.SerializeToString()


def message(i: int) -> bytes:
    return f"other-{i}-".encode() * (1 + i % 5)


def read_all(folder: Path, writer: LogWriter, budget: int = 1 << 20) -> list[tuple[int, bytes]]:
    """Every record as (kind, payload) the way the sender reads them; snapshot runs must parse
    as an UpdateRunSnapshots body, and are split back into their frames byte for byte."""
    reader = LogReader(folder, 0, collections.deque(writer.marks))
    out: list[tuple[int, bytes]] = []
    while (batch := reader.read_batch(budget, writer.head)) is not None:
        if batch.kind != KIND_SNAPSHOT:
            assert batch.records == 1
            out.append((batch.kind, batch.payload))
            continue
        assert len(batch.payload) <= budget or batch.records == 1
        parsed = common_pb2.UpdateRunSnapshots.FromString(batch.payload)
        assert len(parsed.snapshots) == batch.records
        out.extend((KIND_SNAPSHOT, frame) for frame in frames(batch.payload))
    assert reader.position == writer.position and reader.ops == writer.ops
    reader.close()
    return out


def write_mixed(writer: LogWriter, n: int) -> list[tuple[int, bytes]]:
    written = []
    for i in range(n):
        kind = KIND_CREATE if i == 0 else KIND_FILE if i % 97 == 0 else KIND_SNAPSHOT
        payload = snapshot(i) if kind == KIND_SNAPSHOT else message(i)
        if kind == KIND_SNAPSHOT and i % 2:
            writer.append_snapshot(payload[1:])  # the hot path: the frame without its tag
        else:
            writer.append(kind, payload)
        written.append((kind, payload))
    return written


def test_records_roll_over_segments_and_read_back(tmp_path: Path, small_segments: None) -> None:
    writer = LogWriter(tmp_path, 0, 0)
    written = write_mixed(writer, 500)
    assert len(_oplog.segment_indexes(tmp_path)) > 5
    assert read_all(tmp_path, writer) == written
    assert read_all(tmp_path, writer, budget=100) == written  # batches cut by walking
    found = _oplog_read.scan(tmp_path, 0)
    assert (found.end, found.records) == (writer.position, 500)
    assert found.marks == tuple(writer.marks)  # recovery marks what the writer marked
    writer.close()


def test_reader_follows_a_concurrent_writer(tmp_path: Path, small_segments: None) -> None:
    writer = LogWriter(tmp_path, 0, 0)
    total = 3000
    expected = [snapshot(i) for i in range(total)]

    def write() -> None:
        for i, framed in enumerate(expected):
            if i % 50 == 0:
                writer.append(KIND_FILE, message(i))
            writer.append_snapshot(framed[1:])

    thread = threading.Thread(target=write)
    thread.start()
    reader = LogReader(tmp_path, 0, writer.marks)  # shared with the writer, as the sender's
    got: list[bytes] = []
    files = 0
    while len(got) < total:
        batch = reader.read_batch(1000, writer.head)
        if batch is None:
            continue
        if batch.kind == KIND_FILE:
            files += 1
            continue
        got.extend(frames(batch.payload))
    thread.join()
    assert got == expected
    assert files == total // 50
    assert reader.position == writer.position
    writer.close()


def test_an_append_cut_short_is_not_a_record(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path, 0, 0)
    for i in range(10):
        writer.append(KIND_SNAPSHOT, snapshot(i))
    end = writer.position
    writer.close()
    path = _oplog.segment_path(tmp_path, 0)
    with open(path, "r+b") as f:  # killed inside append: the body went in, the tag did not
        f.seek(end + 1)
        f.write(snapshot(10)[1:])
    found = _oplog_read.recover(tmp_path, 0)
    assert (found.end, found.records) == (end, 10)
    with open(path, "rb") as f:
        f.seek(end)
        assert f.read(64) == bytes(64)  # the torn bytes are gone: new records start clean
    writer = LogWriter(tmp_path, end, 10)
    writer.append(KIND_SNAPSHOT, snapshot(99))
    assert [p for _, p in read_all(tmp_path, writer)][-2:] == [snapshot(9), snapshot(99)]
    writer.close()


def test_garbage_is_not_read_as_records(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path, 0, 0)
    writer.append(KIND_SNAPSHOT, snapshot(1))
    end = writer.position
    writer.close()
    with open(_oplog.segment_path(tmp_path, 0), "r+b") as f:
        f.seek(end)
        f.write(b"\x7f\xff\xff")  # not a record kind
    assert _oplog_read.scan(tmp_path, 0)[:2] == (end, 1)


def test_after_a_reboot_only_what_was_synced_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = LogWriter(tmp_path, 0, 0)
    for i in range(5):
        writer.append(KIND_SNAPSHOT, snapshot(i))
    writer.flush()  # what the monitor does once a second
    synced = writer.position
    for i in range(5, 8):
        writer.append(KIND_SNAPSHOT, snapshot(i))
    assert _mapped.read_synced(tmp_path).position == synced  # type: ignore[union-attr]
    # Same boot (the process died, the machine did not): every published record is kept.
    assert _oplog_read.scan(tmp_path, 0).records == 8
    # Another boot: the records after the synced position may be torn on disk, so they go.
    monkeypatch.setattr(_mapped, "boot_id", lambda: b"another boot!!!!")
    found = _oplog_read.recover(tmp_path, 0)
    assert (found.end, found.records) == (synced, 5)


def test_synced_marker_survives_a_torn_slot(tmp_path: Path) -> None:
    marker = _mapped.SyncedFile(tmp_path)
    marker.record(100)
    marker.record(200)
    marker.close()
    assert _mapped.read_synced(tmp_path).position == 200  # type: ignore[union-attr]
    path = tmp_path / _mapped.SYNCED_FILE
    data = bytearray(path.read_bytes())
    data[0:8] = b"\xff" * 8  # the slot written last was torn (sequence 2 lives at offset 0)
    path.write_bytes(bytes(data))
    assert _mapped.read_synced(tmp_path).position == 100  # type: ignore[union-attr]


def test_acked_position_and_segment_cleanup(tmp_path: Path, small_segments: None) -> None:
    assert _oplog.read_acked(tmp_path) == 0
    writer = LogWriter(tmp_path, 0, 0)
    for i in range(300):
        writer.append(KIND_SNAPSHOT, snapshot(i))
    _oplog.write_acked(tmp_path, 3 * SMALL_SEGMENT + 10)
    assert _oplog.read_acked(tmp_path) == 3 * SMALL_SEGMENT + 10
    _oplog.delete_segments_before(tmp_path, 3 * SMALL_SEGMENT + 10)
    assert min(_oplog.segment_indexes(tmp_path)) == 3
    (tmp_path / "acked").write_bytes(b"garbage-garbage!")
    assert _oplog.read_acked(tmp_path) == 0  # damaged sidecar: resend rather than lose
    writer.close()


def test_segments_are_sparse_files(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path, 0, 0)
    writer.append(KIND_SNAPSHOT, snapshot(1))
    writer.flush()
    stat = os.stat(_oplog.segment_path(tmp_path, 0))
    assert stat.st_size == _oplog.SEGMENT_BYTES
    assert stat.st_blocks * 512 < _oplog.SEGMENT_BYTES  # zeros cost no disk
    writer.close()


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path, 0, 0)
    with pytest.raises(ValueError, match="kind"):
        writer.append(0x22, b"x")
    writer.close()


def sized_snapshot(size: int) -> bytes:
    """A framed snapshot of exactly ``size`` bytes (a string config padded to fit; a step
    fills the sizes where the length varints grow by a byte)."""
    for step in (0, 1, 300):
        for pad in range(size, -1, -1):
            batch = common_pb2.UpdateRunSnapshots()
            snap = batch.snapshots.add()
            snap.assign["pad"].string = "x" * pad
            if step:
                snap.step.whole = step
            framed = batch.SerializeToString()
            if len(framed) == size:
                return framed
    raise AssertionError(size)


def test_a_segment_filled_to_its_last_byte(tmp_path: Path, small_segments: None) -> None:
    writer = LogWriter(tmp_path, 0, 0)
    written = []
    while SMALL_SEGMENT - writer.position > 400:
        written.append(snapshot(len(written)))
        writer.append(KIND_SNAPSHOT, written[-1])
    written.append(sized_snapshot(SMALL_SEGMENT - writer.position))
    writer.append(KIND_SNAPSHOT, written[-1])
    assert writer.position == SMALL_SEGMENT
    # Recovery finds the full segment and a writer continues in the next one.
    found = _oplog_read.recover(tmp_path, 0)
    assert (found.end, found.records) == (SMALL_SEGMENT, len(written))
    writer.close()
    writer = LogWriter(tmp_path, found.end, found.records, found.marks)
    for i in range(40):
        written.append(snapshot(i))
        writer.append(KIND_SNAPSHOT, written[-1])
    assert [p for _, p in read_all(tmp_path, writer)] == written
    # And a writer that fills a segment and rolls over by itself.
    (tmp_path / "again").mkdir()
    more = LogWriter(tmp_path / "again")
    for framed in written:
        more.append(KIND_SNAPSHOT, framed)
    assert [p for _, p in read_all(tmp_path / "again", more)] == written
    writer.close()
    more.close()


@settings(max_examples=60, deadline=None)
@given(
    # (no frame is 130 bytes long: a 128-byte message takes a 2-byte length)
    sizes=st.lists(st.integers(20, 700).filter(lambda n: n != 130), min_size=1, max_size=60),
    others=st.sets(st.integers(min_value=0, max_value=59)),
    reads=st.sets(st.integers(min_value=0, max_value=59)),
    reopen=st.integers(min_value=0, max_value=60),
    budget=st.integers(min_value=50, max_value=3000),
)
def test_any_sequence_reads_back_across_reopening(
    sizes: list[int], others: set[int], reads: set[int], reopen: int, budget: int
) -> None:
    """Records of any size and kind, read while written, with the log reopened (recovered)
    part way: every record arrives once, in order, byte for byte."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(_oplog, "SEGMENT_BYTES", 2048)
        folder = Path(tmp)
        writer = LogWriter(folder)
        reader = LogReader(folder, 0, writer.marks)
        written: list[tuple[int, bytes]] = []
        got: list[tuple[int, bytes]] = []

        def drain() -> None:
            while (batch := reader.read_batch(budget, writer.head)) is not None:
                if batch.kind == KIND_SNAPSHOT:
                    got.extend((KIND_SNAPSHOT, f) for f in frames(batch.payload))
                else:
                    got.append((batch.kind, batch.payload))

        for i, size in enumerate(sizes):
            if i == reopen:  # the process died here; a new one recovers the log
                drain()
                writer.close()
                found = _oplog_read.recover(folder, 0)
                assert (found.end, found.records) == (writer.position, writer.ops)
                writer = LogWriter(folder, found.end, found.records, found.marks)
                reader = LogReader(folder, found.end, writer.marks)
                reader.ops = found.records
            if i in others:
                record = (KIND_FILE, b"f" * size)
                writer.append(*record)
            else:
                record = (KIND_SNAPSHOT, sized_snapshot(size))
                writer.append(*record)
            written.append(record)
            if i in reads:
                drain()
        drain()
        writer.close()
        assert got == written
        assert reader.position == writer.position and reader.ops == writer.ops


def test_mapped_file_calls_after_close_are_no_ops(tmp_path: Path) -> None:
    """msync/madvise go through the mapping's address (off the GIL); once it is closed they
    must never touch that address again (it may be mapped to something else by then)."""
    mapped = _mapped.MappedFile(tmp_path / "seg", 1 << 20)
    mapped.populate(0, 1 << 20)
    mapped.mm[0:5] = b"hello"
    mapped.msync(0, 5)
    assert (tmp_path / "seg").read_bytes()[:5] == b"hello"
    mapped.close()
    mapped.msync(0, 1 << 20)
    assert mapped.advise(_mapped.MADV_POPULATE_WRITE, 0, 1 << 20)
    mapped.populate(0, 1 << 20)
