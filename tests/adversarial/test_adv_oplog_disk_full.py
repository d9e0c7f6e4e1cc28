"""Issue 12 items 5 and 6 together: a full disk under a checked (format 3) operation log.

Format 3 writes each record twice over, into the segment and into its index (end offset and
chained checksum), both through shared mappings of sparse files: the index can SIGBUS on a full
disk as the segment could. A real writer in a subprocess appends records of a few bytes (so the
index grows about as fast as the segment) on a small tmpfs that a filler file fills, until the
disk is full and records are held in memory; then space returns, the held records are written,
and recovery checks the whole log: every record must be there with an index entry whose checksum
matches (held records get theirs when they reach the log), and the run's identity (both copies
of meta.json, with the create record's message) must have been written once there was room.
A format-2 folder's writer goes through the same full disk and keeps writing format 2.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from support.adv_local_disk import fill, read_json_line, small_tmpfs, start_script

pytestmark = pytest.mark.slow

TMPFS_MIB = 8
ROOM_BYTES = 1024 * 1024
WHILE_FULL = 30_000  # records appended after the first report of a full disk

WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from neptune_scale import _oplog
    from neptune_scale._oplog import read as _oplog_read
    from neptune_scale.wire import varint

    folder, form, while_full = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    folder.mkdir(parents=True, exist_ok=True)
    events = []
    report = lambda e: events.append([type(e).__name__, str(e)])
    if form == 2:  # a folder an older client started: its writer keeps writing format 2
        (folder / "meta.json").write_text(json.dumps({"format": 2, "project": "p", "run_id": "r"}))
        from neptune_scale._oplog.legacy import LegacyLogWriter

        writer = LegacyLogWriter(folder, report=report)
    else:
        writer = _oplog.LogWriter(folder, report=report, meta=("p", "r", None))
    full = lambda: any(e[1].startswith("No room for the operation log") for e in events)
    count = 0

    def append(n):
        global count
        for _ in range(n):
            body = count.to_bytes(4, "little")
            writer.append_snapshot(varint(len(body)) + body)
            count += 1
            if count % 5000 == 0:
                writer.reserve_ahead(256 * 1024)  # what the monitor does every tick

    append(10)
    while not full():
        append(1000)
        assert count < 5_000_000, "the disk never filled up"
    writer.keep_identity("p", "r", b"the create message")  # no room: it waits with the records
    writer.append(_oplog.KIND_CREATE, b"the create message")
    append(while_full)
    print(json.dumps({"held": writer.held_ops, "holding": writer.holding}), flush=True)
    sys.stdin.readline()  # the test frees space
    while writer.holding:
        writer.retry(force=True)
        time.sleep(0.05)
    append(100)
    writer.close()
    meta, notes = _oplog.read_meta_checked(folder)
    found = _oplog_read.recover(folder, 0, meta["create"])
    print(json.dumps({
        "appended": count + 1, "records": found.records, "damage": [list(d) for d in found.damage],
        "dropped": writer.dropped, "events": events, "notes": notes, "format": meta["format"],
        "create": None if meta["create"] is None else meta["create"].decode(),
        "indexes": sorted(p.name for p in folder.glob("ops-*.idx")),
    }), flush=True)
    """
)


def _write_through_a_full_disk(tmp_path: Path, form: int) -> dict:
    with small_tmpfs(tmp_path / "disk", TMPFS_MIB) as disk:
        fill(disk, ROOM_BYTES)
        child = start_script(WRITER, str(disk / "run"), str(form), str(WHILE_FULL))
        try:
            held = read_json_line(child)  # the disk is full, and the writer alive
            assert held["holding"] and held["held"] >= WHILE_FULL
            (disk / "filler").unlink()
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
            result = read_json_line(child)
            assert child.wait(timeout=120) == 0
        finally:
            child.kill()
            child.wait()
    return result


def test_a_full_disk_under_a_checked_log_loses_no_record_and_no_checksum(tmp_path: Path) -> None:
    result = _write_through_a_full_disk(tmp_path, form=3)
    kinds = [e[0] for e in result["events"]]
    assert "NeptuneLocalStorageFull" in kinds
    assert result["dropped"] == 0
    assert result["damage"] == []  # every record, held ones included, checks against its index
    assert result["records"] == result["appended"]
    assert result["indexes"]  # format 3: the records were checked, not just walked
    assert result["format"] == 3 and result["notes"] == []  # both copies of the identity
    assert result["create"] == "the create message"  # written once there was room


def test_a_full_disk_under_a_format_2_log_keeps_writing_format_2(tmp_path: Path) -> None:
    result = _write_through_a_full_disk(tmp_path, form=2)
    assert "NeptuneLocalStorageFull" in [e[0] for e in result["events"]]
    assert result["dropped"] == 0 and result["damage"] == []
    assert result["records"] == result["appended"]
    assert result["indexes"] == [] and result["format"] == 2 and result["create"] is None
    assert json.dumps(result["notes"]) == "[]"
