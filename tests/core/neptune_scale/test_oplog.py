"""The durable operation log: segments, batches, concurrent reading, recovery of a torn tail."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from neptune_scale import _oplog
from neptune_scale._oplog import KIND_CREATE, KIND_FILE, KIND_SNAPSHOT, LogReader, LogWriter

SMALL_SEGMENT = 4096


@pytest.fixture
def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_oplog, "SEGMENT_BYTES", SMALL_SEGMENT)


def payload(i: int) -> bytes:
    return f"record-{i}-".encode() * (1 + i % 7)


def read_all(folder: Path, limit: int | None, budget: int = 1 << 20) -> list[tuple[int, bytes]]:
    reader = LogReader(folder, 0)
    out: list[tuple[int, bytes]] = []
    while (batch := reader.read_batch(budget, limit)) is not None:
        kind, parts, _end, count = batch
        assert count == len(parts)
        assert kind == KIND_SNAPSHOT or count == 1
        assert kind != KIND_SNAPSHOT or count == 1 or sum(map(len, parts)) <= budget
        out.extend((kind, p) for p in parts)
    reader.close()
    return out


def test_records_roll_over_segments_and_read_back(tmp_path: Path, small_segments: None) -> None:
    writer = LogWriter(tmp_path, 0, 0)
    written = []
    for i in range(500):
        kind = KIND_CREATE if i == 0 else KIND_FILE if i % 97 == 0 else KIND_SNAPSHOT
        writer.append(kind, payload(i))
        written.append((kind, payload(i)))
    assert len(_oplog.segment_indexes(tmp_path)) > 5
    assert read_all(tmp_path, writer.position) == written
    assert read_all(tmp_path, None) == written  # recovery reading: no limit known
    assert read_all(tmp_path, writer.position, budget=100) == written
    assert _oplog.scan_end(tmp_path, 0) == (writer.position, 500)
    writer.close()


def test_reader_follows_a_concurrent_writer(tmp_path: Path, small_segments: None) -> None:
    writer = LogWriter(tmp_path, 0, 0)
    total = 3000
    done = threading.Event()

    def write() -> None:
        for i in range(total):
            writer.append(KIND_SNAPSHOT, payload(i))
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    reader = LogReader(tmp_path, 0)
    got: list[bytes] = []
    while len(got) < total:
        batch = reader.read_batch(1000, writer.position)
        if batch is not None:
            got.extend(batch[1])
    thread.join()
    assert got == [payload(i) for i in range(total)]
    assert reader.position == writer.position
    writer.close()


def test_torn_tail_is_cut_at_the_last_intact_record(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path, 0, 0)
    for i in range(10):
        writer.append(KIND_SNAPSHOT, payload(i))
    end = writer.position
    writer.close()
    path = _oplog.segment_path(tmp_path, 0)
    with open(path, "r+b") as f:  # a record whose payload never fully reached the disk
        f.seek(end)
        f.write(_oplog.HEADER.pack((KIND_SNAPSHOT << _oplog.KIND_SHIFT) | 50, 12345) + b"x" * 20)
    assert _oplog.scan_end(tmp_path, 0) == (end, 10)
    _oplog.truncate_after(tmp_path, end)
    writer = LogWriter(tmp_path, end, 10)
    writer.append(KIND_SNAPSHOT, b"after recovery")
    assert [p for _, p in read_all(tmp_path, None)][-2:] == [payload(9), b"after recovery"]
    writer.close()


def test_acked_position_and_segment_cleanup(tmp_path: Path, small_segments: None) -> None:
    assert _oplog.read_acked(tmp_path) == 0
    writer = LogWriter(tmp_path, 0, 0)
    for i in range(300):
        writer.append(KIND_SNAPSHOT, payload(i))
    _oplog.write_acked(tmp_path, 3 * SMALL_SEGMENT + 10)
    assert _oplog.read_acked(tmp_path) == 3 * SMALL_SEGMENT + 10
    _oplog.delete_segments_before(tmp_path, 3 * SMALL_SEGMENT + 10)
    assert min(_oplog.segment_indexes(tmp_path)) == 3
    (tmp_path / "acked").write_bytes(b"garbage-garbage!")
    assert _oplog.read_acked(tmp_path) == 0  # damaged sidecar: resend rather than lose
    writer.close()


def test_segments_are_sparse_files(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path, 0, 0)
    writer.append(KIND_SNAPSHOT, b"x")
    writer.flush()
    stat = os.stat(_oplog.segment_path(tmp_path, 0))
    assert stat.st_size == _oplog.SEGMENT_BYTES
    assert stat.st_blocks * 512 < _oplog.SEGMENT_BYTES  # zeros cost no disk
    writer.close()
