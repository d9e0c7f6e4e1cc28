"""Issue 12 item 6: the embedded store created on a full disk is finished once there is room.

SQLite writes the database header (and grows its ``-shm`` file) before the schema's one
transaction commits, so a store created on a full disk is left as a file with no tables. That
was called a foreign file: the local transport got StoreCorrupt (not retryable: delivery stopped
for good, with "cannot rollback - no transaction is active" in place of the full disk, because
SQLite had already rolled back), and every ``Reader`` refused the folder ("no schema") — the
flaky failure of ``test_adv_disk_full``, whose run sometimes created its store just as the disk
filled up. Now a full disk while creating is an OSError (retried), and the next opener, reader
or writer, finishes the creation.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest
from despina.query import Reader
from despina.store import open_store
from despina.store.transport import LocalTransport
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2
from neptune_scale.transport import Failed, Submitted
from support.adv_local_disk import fill, small_tmpfs

PROJECT = "adv/store"
TMPFS_MIB = 1  # the schema's WAL (~260 KiB) fits once the filler is gone


def _create(run_id: str) -> bytes:
    op = ingest_pb2.RunOperation(project=PROJECT, run_id=run_id)
    op.create.family = run_id
    return op.SerializeToString()


# What finds no room: the header itself (a 0-byte file), the -shm file SQLite grows before it
# writes (an I/O error, SQLITE_IOERR_SHMSIZE), the WAL of the schema (a 16 KiB header, no tables).
@pytest.mark.parametrize("room_kib", [4, 24, 96])
@pytest.mark.parametrize("first", ["reader", "transport"])
def test_a_store_created_on_a_full_disk_is_finished_once_there_is_room(
    tmp_path: Path, room_kib: int, first: str
) -> None:
    with small_tmpfs(tmp_path / "disk", TMPFS_MIB) as disk:
        filler = fill(disk, room_kib * 1024)
        folder = disk / "store"
        with pytest.raises(OSError) as raised:  # not StoreCorrupt: a writer retries this
            open_store(folder).close()
        assert raised.value.errno in (errno.ENOSPC, errno.EIO), raised.value
        transport = LocalTransport(folder)
        failed = transport.submit(PROJECT, "a", _create("a"))
        assert isinstance(failed, Failed) and failed.retryable, failed

        filler.unlink()
        leftover = sqlite3.connect(f"file:{folder / 'despina.sqlite3'}?mode=ro", uri=True)
        try:  # what the interrupted creation left: an SQLite file without a schema
            assert leftover.execute("PRAGMA user_version").fetchone() == (0,)
            assert leftover.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
        finally:
            leftover.close()
        if first == "reader":
            with Reader(folder) as reader:
                assert reader.list_projects() == []
        submitted = transport.submit(PROJECT, "a", _create("a"))
        assert isinstance(submitted, Submitted), submitted
        transport.close()
        with Reader(folder) as reader:
            assert reader.list_runs(PROJECT) == ["a"]
