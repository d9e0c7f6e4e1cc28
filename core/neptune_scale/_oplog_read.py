"""Reading the operation log (format: see ``_oplog``): the sender's :class:`LogReader`, and
:func:`recover`, which finds what a reopened log holds."""

from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import NamedTuple

from neptune_scale import _mapped, _oplog
from neptune_scale._oplog import (
    KIND_SNAPSHOT,
    KINDS,
    MAX_LENGTH_BYTES,
    OTHER,
    SEGMENT_END,
    Mark,
    segment_indexes,
    segment_path,
    truncate_after,
)

__all__ = ["Batch", "LogReader", "LogScan", "recover", "scan"]

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


_END, _PARTIAL, _DAMAGED, _STOP = range(4)


def _parse_header(chunk: bytes, pos: int) -> tuple[int, int, int] | int:
    """(kind, where the message starts, where the record ends) of the record at ``pos``, as
    offsets into ``chunk``; or _END (zeros: no record), _PARTIAL (cut off by the chunk's end) or
    _DAMAGED (not a record)."""
    if pos >= len(chunk):
        return _PARTIAL
    kind = chunk[pos]
    if kind == 0:
        return _END
    if kind not in KINDS:
        return _DAMAGED
    length = shift = 0
    i = pos + 1
    while True:
        if i >= len(chunk):
            return _PARTIAL
        byte = chunk[i]
        i += 1
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            return kind, i, i + length
        shift += 7
        if shift >= 7 * MAX_LENGTH_BYTES:
            return _DAMAGED


class LogScan(NamedTuple):
    end: int  # position after the last record kept
    records: int  # from the start to ``end``
    marks: tuple[Mark, ...]  # what the writer would have marked between them


def scan(folder: Path, start: int, stop: int | None = None) -> LogScan:
    """Walk the records from ``start`` (a record boundary) to the end of the log, or to ``stop``:
    what a reopened log holds. Ends at zeros after the last segment's records, at anything that
    is not a whole record, or at the first record that would pass ``stop``."""
    position, count = start, 0
    marks: list[Mark] = []
    while True:
        index, offset = divmod(position, _oplog.SEGMENT_BYTES)
        path = segment_path(folder, index)
        if not path.exists():
            break
        with open(path, "rb") as f:
            data = os.pread(f.fileno(), _oplog.SEGMENT_BYTES - offset, offset)  # recovery: one read
        walked, count, outcome = _scan_segment(data, position, stop, count, marks)
        position += walked
        full = offset + walked == _oplog.SEGMENT_BYTES  # the writer continues in the next segment
        if outcome != _END or not (full or segment_path(folder, index + 1).exists()):
            break
        marks.append(Mark(position, count, SEGMENT_END))
        position = (index + 1) * _oplog.SEGMENT_BYTES
    return LogScan(position, count, tuple(marks))


def _scan_segment(
    data: bytes, position: int, stop: int | None, count: int, marks: list[Mark]
) -> tuple[int, int, int]:
    """(bytes walked, records counted so far, why it stopped) in ``data``, the rest of one
    segment from ``position`` on; marks the records of other kinds than snapshots."""
    pos = 0
    while True:
        record = _parse_header(data, pos)
        if record == _PARTIAL and pos == len(data):
            return pos, count, _END  # the segment is full to its last byte
        if not isinstance(record, tuple):
            return pos, count, _DAMAGED if record == _PARTIAL else record
        kind, _body, end = record
        if end > len(data):
            return pos, count, _DAMAGED
        if stop is not None and position + end > stop:
            return pos, count, _STOP
        if kind != KIND_SNAPSHOT:
            marks.append(Mark(position + pos, count, OTHER))
        pos = end
        count += 1


def recover(folder: Path, acked: int) -> LogScan:
    """What a reopened log holds after ``acked``, then the log cut there (the rest zeroed).

    Within the boot that wrote it, every published record is whole (the page cache kept it
    through any death of the process). After a reboot (a power loss, a crash of the machine)
    only what the synced marker says reached the disk is trusted: at most the last second of
    records is dropped, never a torn one delivered.
    """
    synced = _mapped.read_synced(folder)
    stop = None
    if synced is not None and synced.boot_id != _mapped.boot_id():
        stop = max(synced.position, acked)
    found = scan(folder, acked, stop)
    truncate_after(folder, found.end)
    for index in segment_indexes(folder):
        if acked // _oplog.SEGMENT_BYTES <= index <= found.end // _oplog.SEGMENT_BYTES:
            with open(segment_path(folder, index), "rb+") as f:
                os.fsync(f.fileno())  # the writer's first synced marker covers them
    return found
