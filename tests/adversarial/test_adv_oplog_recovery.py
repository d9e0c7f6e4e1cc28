"""Recovery of damaged operation logs beyond ``despina sync``: a ``Run`` resuming a damaged
folder, a folder of the previous format (2), damage in a segment before the last, and damage
that hits only the index (nothing may be lost then)."""

from __future__ import annotations

import collections
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from neptune_scale import Run, _oplog
from neptune_scale._oplog import KIND_CREATE, KIND_SNAPSHOT, LogWriter
from neptune_scale._oplog import read as _oplog_read
from neptune_scale.exceptions import NeptuneOperationLogDamaged
from neptune_scale.wire import varint
from support.oplog_damage import (
    PROJECT,
    RUN_ID,
    damage_segment,
    despina_sync,
    expected_losses,
    loss,
    record_span,
    stored_losses,
    write_offline_run,
    xor_byte,
)
from support.oplog_frames import frames


def test_a_run_resuming_a_damaged_folder_reports_it_and_goes_on(tmp_path: Path) -> None:
    folder = write_offline_run(tmp_path)
    start, end = record_span(folder, 5001)
    damage_segment(folder, start, 0x40)
    errors: list[BaseException] = []
    run = Run(
        project=PROJECT, run_id=RUN_ID, log_directory=tmp_path, resume=True,
        on_error_callback=lambda e, _ts: errors.append(e),
        enable_console_log_capture=False, source_tracking_config=None,
    )  # fmt: skip
    for step in range(10_000, 10_100):
        run.log_metrics({"loss": loss(step)}, step=step)
    run.close()
    damaged = [e for e in errors if isinstance(e, NeptuneOperationLogDamaged)]
    assert len(damaged) == 1, errors
    assert f"1 record(s) at bytes {start}..{end}" in str(damaged[0])
    assert stored_losses(tmp_path) == expected_losses({5000}, steps=10_100)
    assert folder.exists()  # the loss is not accepted yet
    assert despina_sync(tmp_path, "--skip-damaged").returncode == 0
    assert not folder.exists()


def test_a_run_resuming_its_folder_with_both_identities_damaged(tmp_path: Path) -> None:
    """The folder's name is a digest of project and run id: a Run that owns it rewrites them."""
    folder = write_offline_run(tmp_path, steps=100)
    for name in ("meta.json", "meta.copy.json"):
        (folder / name).write_bytes(b"\x00garbage")
    errors: list[BaseException] = []
    run = Run(
        project=PROJECT, run_id=RUN_ID, log_directory=tmp_path, resume=True,
        on_error_callback=lambda e, _ts: errors.append(e),
        enable_console_log_capture=False, source_tracking_config=None,
    )  # fmt: skip
    run.log_metrics({"loss": loss(100)}, step=100)
    run.close()
    assert [type(e).__name__ for e in errors] == ["NeptuneOperationLogDamaged"]
    assert "written again from the run's folder name" in str(errors[0])
    assert stored_losses(tmp_path) == expected_losses(set(), steps=101)
    assert not folder.exists()  # no record was lost


KILLED_WRITER = """
import sys
from neptune_scale import Run
run = Run(project=sys.argv[2], run_id=sys.argv[3], log_directory=sys.argv[1], mode="offline",
          enable_console_log_capture=False, source_tracking_config=None)
print("ready", flush=True)
step = 0
while True:
    run.log_metrics({"loss": step * 0.25 + 1 / (step + 3)}, step=step)
    step += 1
"""


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.5])
def test_a_writer_killed_mid_append_leaves_no_false_damage(tmp_path: Path, delay: float) -> None:
    """A torn tail (the tag not written yet) is not damage: nothing reported, exit 0."""
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path), PROJECT, RUN_ID],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait()
    result = despina_sync(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "NeptuneOperationLogDamaged" not in result.stderr and "record(s)" not in result.stderr
    stored = stored_losses(tmp_path)
    assert stored == expected_losses(set(), steps=len(stored)) and stored


def test_a_format_2_folder_is_still_delivered(tmp_path: Path) -> None:
    """Format 2 segments hold the same bytes as format 3 ones, without the index files."""
    folder = write_offline_run(tmp_path)
    make_format_2(folder)

    result = despina_sync(tmp_path)
    assert result.returncode == 0, result.stderr
    assert stored_losses(tmp_path) == expected_losses(set())
    assert not folder.exists()


def test_damage_in_a_format_2_folder_is_reported_not_silent(tmp_path: Path) -> None:
    """Format 2 has no index: what follows the damage cannot be found, but it is reported."""
    folder = write_offline_run(tmp_path)
    make_format_2(folder)
    start, _ = record_span(folder, 5001)
    damage_segment(folder, start, 0x40)

    result = despina_sync(tmp_path)
    assert result.returncode == 1, result.stderr
    assert f"an unknown number of record(s) at bytes {start}.." in result.stderr
    assert stored_losses(tmp_path) == expected_losses(set(range(5000, 10_000)))
    assert folder.exists()


def make_format_2(folder: Path) -> None:
    """What format 2 wrote: the same segments, no index files, one meta.json without a crc."""
    for index in folder.glob("ops-*.idx"):
        index.unlink()
    (folder / "meta.copy.json").unlink()
    meta = {"format": 2, "project": PROJECT, "run_id": RUN_ID}
    (folder / "meta.json").write_text(json.dumps(meta))


def test_a_format_2_folder_resumed_stays_format_2(tmp_path: Path) -> None:
    folder = write_offline_run(tmp_path, steps=100)
    make_format_2(folder)
    run = Run(
        project=PROJECT, run_id=RUN_ID, log_directory=tmp_path, resume=True, mode="offline",
        enable_console_log_capture=False, source_tracking_config=None,
    )  # fmt: skip
    for step in range(100, 200):
        run.log_metrics({"loss": loss(step)}, step=step)
    run.close()
    assert not list(folder.glob("ops-*.idx"))
    assert despina_sync(tmp_path).returncode == 0
    assert stored_losses(tmp_path) == expected_losses(set(), steps=200)


def snapshot(step: int) -> bytes:
    """A framed snapshot record of ~60 bytes with a distinct body per step."""
    body = struct.pack("<Q", step) * 6
    message = b"\x0a" + bytes((len(body),)) + body  # field 1 as bytes: any payload will do
    return bytes((KIND_SNAPSHOT, len(message))) + message


def test_damage_in_an_earlier_segment_keeps_the_later_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_oplog, "SEGMENT_BYTES", 4096)
    writer = LogWriter(tmp_path)
    writer.append(KIND_CREATE, b"create")
    framed = [snapshot(i) for i in range(300)]
    for record in framed:
        writer.append(KIND_SNAPSHOT, record)
    writer.close()
    size = len(framed[0])
    per_segment = [len(split(_oplog.segment_path(tmp_path, i).read_bytes().rstrip(b"\0")))
                   for i in _oplog.segment_indexes(tmp_path)]  # fmt: skip
    assert len(per_segment) >= 4 and per_segment[0] == per_segment[1] + 1  # + the create
    # The length of the 10th record of segment 1 goes bad, and segment 2 is cut in its 21st.
    xor_byte(_oplog.segment_path(tmp_path, 1), 9 * size + 1, 0x7F)
    with open(_oplog.segment_path(tmp_path, 2), "r+b") as f:
        f.truncate(20 * size + 5)

    found = _oplog_read.recover(tmp_path, 0)
    lost = [(d.start, d.end, d.records) for d in found.damage]
    cut = per_segment[2] - 20
    assert lost == [
        (4096 + 9 * size, 4096 + 10 * size, 1),
        (2 * 4096 + 20 * size, 2 * 4096 + per_segment[2] * size, cut),
    ]
    assert found.records == 301 - 1 - cut
    # The sender's reader skips exactly the damaged records and reads every other one.
    reader = _oplog_read.LogReader(tmp_path, 0, collections.deque(found.marks))
    got: list[bytes] = []
    while (batch := reader.read_batch(1 << 20, (found.end, found.records))) is not None:
        if batch.kind == KIND_SNAPSHOT:
            got.extend(split(batch.payload))
    reader.close()
    first_of_2 = per_segment[0] - 1 + per_segment[1]  # segment 0 also holds the create record
    skipped = framed[per_segment[0] - 1 + 9]
    gone = framed[first_of_2 + 20 : first_of_2 + per_segment[2]]
    assert got == [f for f in framed if f != skipped and f not in gone]


def split(body: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(body):
        end = pos + 2 + body[pos + 1]
        out.append(body[pos:end])
        pos = end
    return out


def test_a_damaged_index_entry_alone_loses_nothing(tmp_path: Path) -> None:
    folder = write_offline_run(tmp_path, steps=1000)
    index = folder / "ops-00000000.idx"
    xor_byte(index, 8 * 500 + 5, 0x04)  # the crc of record 500's entry
    xor_byte(index, 8 * 700 + 1, 0x20)  # the end offset of record 700's entry
    with open(index, "rb") as f:
        assert os.pread(f.fileno(), 8, 0) != bytes(8)
    result = despina_sync(tmp_path)
    assert result.returncode == 0, result.stderr
    assert stored_losses(tmp_path) == expected_losses(set(), steps=1000)


@settings(max_examples=300, deadline=None)
@given(
    sizes=st.lists(st.integers(3, 300), min_size=1, max_size=80),
    where=st.floats(0, 1, exclude_max=True),
    in_index=st.booleans(),
    mask=st.integers(1, 255),
)
def test_any_single_damaged_byte_loses_at_most_its_record(
    sizes: list[int], where: float, in_index: bool, mask: int
) -> None:
    """One byte anywhere in a segment or its index: every other record is recovered, none is
    delivered altered, and a loss is reported exactly when a record is missing."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(_oplog, "SEGMENT_BYTES", 4096)
        folder = Path(tmp)
        writer = LogWriter(folder)
        written = [sized_record(i, size) for i, size in enumerate(sizes)]
        for record in written:
            writer.append(KIND_SNAPSHOT, record)
        writer.close()
        segments = _oplog.segment_indexes(folder)
        segment = segments[int(where * len(segments))]
        path = (_oplog.index_path if in_index else _oplog.segment_path)(folder, segment)
        used = len(path.read_bytes().rstrip(b"\0")) + 16  # and a little of the free space
        xor_byte(path, int(where * len(segments) % 1 * used), mask)

        found = _oplog_read.recover(folder, 0)
        got = read_back(folder, found)
        assert got == [r for r in written if r in got]  # in order, each byte for byte
        assert len(written) - len(got) <= 1
        assert sum(d.records for d in found.damage) == len(written) - len(got)

        # A writer continues the recovered log; reopened again, it finds the same damage
        # before and none at the seam.
        writer = LogWriter(folder, *found[:3], found.slot, found.check)
        more = [sized_record(1000 + i, 40) for i in range(5)]
        for record in more:
            writer.append(KIND_SNAPSHOT, record)
        writer.close()
        again = _oplog_read.recover(folder, 0)
        assert read_back(folder, again) == got + more
        middle = [d for d in found.damage if d.end < found.end]
        assert [d for d in again.damage if d.records] == [d for d in middle if d.records]


def sized_record(i: int, size: int) -> bytes:
    body = (i.to_bytes(2, "little") * size)[:size]
    message = b"\x0a" + varint(len(body)) + body
    return bytes((KIND_SNAPSHOT,)) + varint(len(message)) + message


def read_back(folder: Path, found: _oplog_read.LogScan) -> list[bytes]:
    reader = _oplog_read.LogReader(folder, 0, collections.deque(found.marks))
    got: list[bytes] = []
    while (batch := reader.read_batch(1 << 20, (found.end, found.records))) is not None:
        got.extend(frames(batch.payload))
    reader.close()
    return got
