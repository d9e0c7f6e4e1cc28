"""Reading the operation log (format: see ``_oplog``): the sender's :class:`LogReader`, and
:func:`recover`, which finds what a reopened log holds (the walk itself is ``_oplog_check``)."""

from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import NamedTuple

from neptune_scale import _mapped, _oplog
from neptune_scale._oplog import (
    INDEX_ENTRY,
    KIND_CREATE,
    KIND_SNAPSHOT,
    MAX_LENGTH_BYTES,
    SEGMENT_END,
    SKIP,
    Mark,
    checksum,
    index_path,
    segment_indexes,
    segment_path,
)
from neptune_scale._oplog.check import Damage, LogScan, _parse_header, scan
from neptune_scale.wire import varint

__all__ = ["Batch", "Damage", "LogReader", "LogScan", "recover", "scan"]

# (segment sizes are read as ``_oplog.SEGMENT_BYTES`` at call time: tests shrink them)


class Batch(NamedTuple):
    kind: int
    payload: bytes  # snapshots: their records back to back; another kind: the message alone
    end: int  # position after the last record
    records: int


class LogReader:
    """The sender's reader: reads published records from a position onward, following the
    writer's marks (``marks``, shared with the writer)."""

    def __init__(self, folder: Path, position: int, marks: collections.deque[Mark]) -> None:
        self.folder = folder
        self.position = position
        self.ops = 0  # records read since ``position`` at construction
        self._marks = marks
        self._fd: int | None = None
        self._fd_segment = -1

    def read_batch(self, budget: int, head: tuple[int, int]) -> Batch | None:
        """The next request's records, up to the writer's ``head``: one record of another kind
        alone, or consecutive snapshots totalling at most ``budget`` bytes (at least one).
        None when nothing published is left."""
        limit, limit_ops = head
        marks = self._marks
        while marks and marks[0].position <= self.position:
            mark = marks[0]
            if mark.position < self.position:  # before where this reader started
                marks.popleft()
            elif mark.what == SEGMENT_END:
                marks.popleft()
                # The start of the next segment; a full segment ends exactly there already.
                self.position = -(-self.position // _oplog.SEGMENT_BYTES) * _oplog.SEGMENT_BYTES
            elif mark.what == SKIP:  # damaged records found by recovery: never sent
                marks.popleft()
                self.position = mark.skip_to
            elif mark.position < limit:  # a published record of another kind
                marks.popleft()
                return self._read_other(mark)
            else:
                return None
        start = self.position
        if start >= limit:
            return None
        stop, stop_ops = limit, limit_ops
        if marks and marks[0].position < limit:
            stop, stop_ops = marks[0].position, marks[0].ops
        if stop > (start // _oplog.SEGMENT_BYTES + 1) * _oplog.SEGMENT_BYTES:
            raise RuntimeError(f"no end marked for the log segment holding position {start}")
        if stop - start > budget:
            return self._read_cut(budget)
        payload = self._pread(start, stop - start)
        if len(payload) != stop - start:  # the folder is locked: nobody else shortens it
            raise RuntimeError(f"log segment of {self.folder} ends before position {stop}")
        count = stop_ops - self.ops
        self._advance(stop, count)
        return Batch(KIND_SNAPSHOT, payload, stop, count)

    def _advance(self, position: int, count: int) -> None:
        self.position = position
        self.ops += count

    def _read_other(self, mark: Mark) -> Batch:
        head = self._pread(mark.position, 1 + MAX_LENGTH_BYTES)
        record = _parse_header(head, 0)
        if not isinstance(record, tuple):
            raise ValueError(f"damaged record at position {mark.position} of {self.folder}")
        kind, body_start, end = record
        payload = self._pread(mark.position + body_start, end - body_start)
        self._advance(mark.position + end, 1)
        return Batch(kind, payload, self.position, 1)

    def _read_cut(self, budget: int) -> Batch:
        """Snapshots from the current position up to ``budget`` bytes (at least one): walks
        the records, which only a backlog of more than ``budget`` bytes makes necessary."""
        chunk = self._pread(self.position, budget)
        pos = count = 0
        while True:
            record = _parse_header(chunk, pos)
            if not isinstance(record, tuple) or record[2] > len(chunk):
                break
            pos = record[2]
            count += 1
        if count == 0:  # one record above the budget: it goes alone
            record = _parse_header(self._pread(self.position, 1 + MAX_LENGTH_BYTES), 0)
            if not isinstance(record, tuple):
                raise ValueError(f"damaged record at position {self.position} of {self.folder}")
            pos, count = record[2], 1
            chunk = self._pread(self.position, pos)
        self._advance(self.position + pos, count)
        return Batch(KIND_SNAPSHOT, chunk[:pos], self.position, count)

    def _pread(self, position: int, size: int) -> bytes:
        index, offset = divmod(position, _oplog.SEGMENT_BYTES)
        if self._fd_segment != index:
            self.close()
            self._fd = os.open(segment_path(self.folder, index), os.O_RDONLY)
            self._fd_segment = index
        assert self._fd is not None
        return os.pread(self._fd, size, offset)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._fd_segment = -1


def recover(folder: Path, acked: int, create: bytes | None = None) -> LogScan:
    """What a reopened log holds after ``acked``, then the log cut there (the rest zeroed).

    Within the boot that wrote it, every published record is whole (the page cache kept it
    through any death of the process). After a reboot (a power loss, a crash of the machine)
    only what the synced marker says reached the disk is trusted: at most the last second of
    records is dropped, never a torn one delivered. Damaged records are skipped (see
    ``_oplog_check``); a damaged create record is first rewritten from ``create``, the copy
    of its message in meta.json, when the index confirms that copy.
    """
    synced = _mapped.read_synced(folder)
    stop = None
    if synced is not None and synced.boot_id != _mapped.boot_id():
        stop = max(synced.position, acked)
    repaired = repair_create(folder, create) if create is not None and acked == 0 else ()
    found = scan(folder, acked, stop, 0 if synced is None else synced.position)
    last = found.end // _oplog.SEGMENT_BYTES
    truncate_after(folder, found.end, found.slot if index_path(folder, last).exists() else None)
    for index in segment_indexes(folder):
        if acked // _oplog.SEGMENT_BYTES <= index <= last:
            for path in (segment_path(folder, index), index_path(folder, index)):
                if path.exists():
                    with open(path, "rb+") as f:
                        os.fsync(f.fileno())  # the writer's first synced marker covers them
    return found._replace(damage=repaired + found.damage)


def repair_create(folder: Path, create: bytes) -> tuple[Damage, ...]:
    """Rewrite the log's first record from meta.json's copy of the create message if the
    record is damaged and the copy is what the index says was written there."""
    framed = bytes((KIND_CREATE,)) + varint(len(create)) + create
    path, index = segment_path(folder, 0), index_path(folder, 0)
    if not (path.exists() and index.exists()):
        return ()
    with open(path, "r+b") as f:
        if os.pread(f.fileno(), len(framed), 0) == framed:
            return ()
        entry = index.read_bytes()[: INDEX_ENTRY.size]
        if len(entry) < INDEX_ENTRY.size:
            return ()
        end, check = INDEX_ENTRY.unpack(entry)
        if end != len(framed) or checksum(framed[1:], KIND_CREATE) != check:
            return ()  # not the record the index describes: recovery skips it as damaged
        os.pwrite(f.fileno(), framed[1:], 1)
        os.pwrite(f.fileno(), framed[:1], 0)  # the tag last, as the writer does
    return (Damage(0, end, 0, "the create record was damaged; rewritten from meta.json"),)


def truncate_after(folder: Path, position: int, slot: int | None = None) -> None:
    """Zero everything after ``position`` (a torn tail) so new records start on clean space;
    ``slot``: the index entries kept in that segment (format 3)."""
    index, offset = divmod(position, _oplog.SEGMENT_BYTES)
    _zero_after(segment_path(folder, index), offset, _oplog.SEGMENT_BYTES)
    if slot is not None:
        _zero_after(index_path(folder, index), slot * INDEX_ENTRY.size, _oplog.index_bytes())
    for later in segment_indexes(folder):
        if later > index:
            segment_path(folder, later).unlink()
            index_path(folder, later).unlink(missing_ok=True)


def _zero_after(path: Path, offset: int, size: int) -> None:
    if path.exists():
        with open(path, "r+b") as f:
            f.truncate(offset)
            f.truncate(size)
