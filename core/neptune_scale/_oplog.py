"""The durable operation log of one run: append-only segment files written through ``mmap``.

Layout of a run folder (``<log_directory>/runs/<name>/``)::

    meta.json           project, run_id, format version
    lock                flock()ed by the process that owns the folder
    ops-00000000.log    segments of SEGMENT_BYTES, records back to back, zeros after the end
    acked               position up to which the destination confirmed everything
    synced              position up to which the log is on disk, and the boot (see _mapped)
    blobs/              copies of ``bytes`` file payloads until they are uploaded

A record is a protobuf field of ``UpdateRunSnapshots``: a tag byte, the length as a varint, the
message. Snapshots are field 1 (``snapshots``), exactly the bytes the wire carries, so a run of
them *is* the body of an ``update_batch`` and the sender sends it without looking at the records
one by one. The other kinds use tags the wire never sees in a batch: 2 for a ``Run`` (create)
and 3 for a file upload request (JSON). The writer stores the tag byte last, so a record whose
tag is visible is complete: writes into a MAP_SHARED mapping belong to the kernel's page cache
and survive SIGKILL of the process. A power loss is the ``synced`` marker's business.

A position is ``segment index * SEGMENT_BYTES + offset``: global and increasing. The writer
publishes ``head`` = (position after the last record, records appended) in one store; readers
never read past it. Records never span segments; where a segment's records end, and where a
record of another kind than a snapshot starts, is kept as a :class:`Mark`, so the sender splits
its reads there without walking the records.
"""

from __future__ import annotations

import collections
import json
import logging
import mmap
import os
import struct
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from neptune_scale import _mapped
from neptune_scale._encoding import varint
from neptune_scale._held import Held
from neptune_scale.exceptions import NeptuneLocalStorageFull

__all__ = [
    "KIND_CREATE",
    "KIND_FILE",
    "KIND_SNAPSHOT",
    "SEGMENT_BYTES",
    "LogWriter",
    "Mark",
    "read_acked",
    "read_meta",
    "write_acked",
]

SEGMENT_BYTES = 32 * 1024 * 1024  # small enough that mapped pages keep RSS low, big enough to
# hold the largest record (a 2 MiB snapshot) many times over
KIND_SNAPSHOT = 0x0A  # UpdateRunSnapshots.snapshots: a framed UpdateRunSnapshot
KIND_CREATE = 0x12  # field 2: a neptune.ingest.v1.Run message
KIND_FILE = 0x1A  # field 3: JSON {source, destination, mime_type, temporary}
KINDS = frozenset((KIND_SNAPSHOT, KIND_CREATE, KIND_FILE))
MAX_LENGTH_BYTES = 4  # a varint of at most 4 bytes: records below 256 MiB
FORMAT_VERSION = 2
META_FILE = "meta.json"
ACKED_FILE = "acked"
PREFAULT_MIN_BYTES = 256 * 1024  # do not bother the kernel for less
RESERVE_CHUNK_BYTES = 1024 * 1024  # what the writer reserves when it runs out itself
DRAIN_SLICE_BYTES = 4 * 1024 * 1024  # held records written per hold of the writer's lock
SEGMENT_END, OTHER = 0, 1  # what a Mark marks

logger = logging.getLogger("neptune")


class Mark(NamedTuple):
    position: int
    ops: int  # records before ``position``
    what: int  # SEGMENT_END: this segment's records end here; OTHER: a non-snapshot starts here


def segment_path(folder: Path, index: int) -> Path:
    return folder / f"ops-{index:08d}.log"


def segment_indexes(folder: Path) -> list[int]:
    return sorted(int(p.name[4:12]) for p in folder.glob("ops-*.log"))


def read_meta(folder: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((folder / META_FILE).read_text("utf-8"))
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"{folder} holds operation log format {meta.get('format')!r}, "
            f"this client reads format {FORMAT_VERSION}"
        )
    return meta


def write_meta(folder: Path, project: str, run_id: str) -> None:
    meta = {"format": FORMAT_VERSION, "project": project, "run_id": run_id}
    _replace(folder / META_FILE, json.dumps(meta).encode("utf-8"))


def read_acked(folder: Path) -> int:
    try:
        data = (folder / ACKED_FILE).read_bytes()
    except FileNotFoundError:
        return 0
    position, crc = struct.unpack("<QI", data[:12])
    return position if zlib.crc32(data[:8]) == crc else 0


def write_acked(folder: Path, position: int) -> None:
    raw = struct.pack("<Q", position)
    _replace(folder / ACKED_FILE, raw + struct.pack("<I", zlib.crc32(raw)))


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk: leave no half-written file behind
        raise
    os.replace(tmp, path)


class LogWriter:
    """Appends records. ``append_snapshot`` is the hot path: one lock, two stores into the
    mapping, no system call. ``marks`` is shared with the log's reader, which removes the marks
    it has passed.

    Bytes are written only where disk space was reserved (see ``_mapped``): past ``_limit`` an
    append takes the slow path, which reserves more, rolls over to the next segment, or (no room
    on the disk) holds the record in memory (``_held``) until the monitor's :meth:`retry` finds
    room. While anything is held ``_limit`` is -1, so every append goes behind it, in order.
    ``meta``: (project, run_id) of a new log, whose ``meta.json`` the writer writes."""

    def __init__(
        self,
        folder: Path,
        end: int = 0,
        ops: int = 0,
        marks: tuple[Mark, ...] = (),
        *,
        report: Callable[[BaseException], None] | None = None,
        meta: tuple[str, str] | None = None,
    ):
        self.folder = folder
        self.head = (end, ops)  # (position after the last record, records appended)
        self.marks: collections.deque[Mark] = collections.deque(marks)
        self._lock = threading.Lock()
        self._segment = end // SEGMENT_BYTES
        self._offset = end % SEGMENT_BYTES
        self._base = self._segment * SEGMENT_BYTES
        path = segment_path(folder, self._segment)
        self._map = _mapped.MappedFile(path, SEGMENT_BYTES, reserved=self._offset)
        self._mm = self._map.mm  # the hot path writes here: one attribute load, not two
        self._limit = self._offset  # appends past it reserve space first
        self._report = report or _log_report
        self._held = Held(folder, self._report)
        self._meta = meta
        self._ahead_cap = SEGMENT_BYTES  # reserve_ahead asks for at most this much at once
        self._retired: list[_mapped.MappedFile] = []  # rolled over, closed by the next flush
        self._flush_lock = threading.Lock()
        self._synced = _mapped.SyncedFile(folder)
        self._synced_failed = False
        self._record_synced(end)  # recover() left everything up to ``end`` on disk
        self._flushed = (self._map, self._offset)  # map and offset msynced so far
        self._prefaulted = (self._map, self._offset)  # map and offset faulted in so far
        self._abandoned = False
        self._closed = False
        if meta is not None:
            with self._lock:
                self._write_meta()

    @property
    def position(self) -> int:
        return self.head[0]

    @property
    def ops(self) -> int:
        return self.head[1]

    @property
    def holding(self) -> bool:
        """True while records wait in memory for room on the disk."""
        return bool(self._held) or self._meta is not None

    @property
    def held_ops(self) -> int:
        return len(self._held.records)

    @property
    def dropped(self) -> int:
        """Operations lost to a full disk (each reported)."""
        return self._held.dropped

    def append_snapshot(self, rest: bytes) -> None:
        """Append a snapshot record; ``rest`` is its frame without the tag byte (the length
        varint, then the UpdateRunSnapshot). The tag goes in last: see the module docstring."""
        end_of_record = len(rest) + 1
        lock = self._lock
        lock.acquire()
        try:
            offset = self._offset
            end = offset + end_of_record
            if end > self._limit:
                offset = self._room(end_of_record)
                if offset < 0:
                    self._held.hold(KIND_SNAPSHOT, rest)
                    return
                end = offset + end_of_record
            mm = self._mm
            mm[offset + 1 : end] = rest
            mm[offset] = KIND_SNAPSHOT
            self._offset = end
            self.head = (self._base + end, self.head[1] + 1)
        finally:
            lock.release()

    def append(self, kind: int, payload: bytes) -> None:
        """Append one record: a framed snapshot (tag included) or another kind's message."""
        if kind == KIND_SNAPSHOT:
            self.append_snapshot(payload[1:])
            return
        if kind not in KINDS:
            raise ValueError(f"unknown record kind {kind:#x}")
        rest = varint(len(payload)) + payload
        with self._lock:
            offset = self._offset
            if offset + 1 + len(rest) > self._limit:
                offset = self._room(1 + len(rest))
            if offset < 0:
                self._held.hold(kind, rest)
            else:
                self._put(kind, rest, offset)

    def _put(self, kind: int, rest: bytes, offset: int) -> None:
        """Write one record at ``offset``, where there is room (under the lock)."""
        ops = self.head[1]
        if kind != KIND_SNAPSHOT:
            self.marks.append(Mark(self._base + offset, ops, OTHER))  # before the head moves
        end = offset + 1 + len(rest)
        self._mm[offset + 1 : end] = rest
        self._mm[offset] = kind
        self._offset = end
        self.head = (self._base + end, ops + 1)

    def _room(self, size: int) -> int:
        """The offset to write ``size`` bytes at, after reserving or rolling over (under the
        lock); -1 when the record must be held in memory."""
        if self._abandoned:
            raise RuntimeError("this operation log belongs to the parent process")
        if self._held or self._meta is not None:
            return -1  # what is held goes to the log first
        return self._make_room(size)

    def _make_room(self, size: int) -> int:
        if size > SEGMENT_BYTES:
            raise ValueError(f"an operation of {size} bytes exceeds the log segment size")
        try:
            if self._offset + size > SEGMENT_BYTES:
                self._roll()
            self._reserve(self._offset + size)
        except OSError as error:
            self._limit = -1
            self._held.failed(error)
            return -1
        return self._offset

    def _reserve(self, needed: int) -> None:
        try:
            reserved = self._map.reserve(max(needed, self._limit + RESERVE_CHUNK_BYTES))
        except OSError:  # nearly full: what this record needs, if there is that much
            reserved = self._map.reserve(-(-needed // mmap.PAGESIZE) * mmap.PAGESIZE)
        self._limit = reserved

    def _roll(self) -> None:
        """Continue in the next segment (under the lock)."""
        new = _mapped.MappedFile(segment_path(self.folder, self._segment + 1), SEGMENT_BYTES)
        # The mark goes first: a reader that sees a record of the next segment sees it too.
        self.marks.append(Mark(self._base + self._offset, self.head[1], SEGMENT_END))
        self._retired.append(self._map)  # the monitor's flush msyncs and closes it
        self._map, self._mm = new, new.mm
        self._segment += 1
        self._offset = self._limit = 0
        self._base = self._segment * SEGMENT_BYTES

    def _write_meta(self) -> bool:
        if self._meta is not None:
            try:
                write_meta(self.folder, *self._meta)
            except OSError as error:
                self._limit = -1
                self._held.failed(error)
                return False
            self._meta = None
        return True

    def retry(self, *, force: bool = False) -> None:
        """Write what is held in memory once the disk has room again. The monitor calls this
        every tick; it tries only when the retry delay passed (or ``force``)."""
        held = self._held
        with self._lock:
            held.report_drops()
        if not self.holding or not (force or held.due()):
            return
        written = 0
        while True:
            with self._lock:  # a slice at a time: the logging thread waits at most for one
                if self._closed or self._abandoned or not self._write_meta():
                    return
                count = self._drain(DRAIN_SLICE_BYTES)
                if count < 0:
                    return
                written += count
                if not held:
                    held.resumed(written)
                    return

    def _drain(self, budget: int) -> int:
        """Write held records, about ``budget`` bytes (under the lock); how many, or -1 when
        the disk is full again."""
        held = self._held
        count = done = 0
        while held and done < budget:
            kind, rest = held.records[0]
            size = 1 + len(rest)
            offset = self._offset
            if offset + size > self._limit:
                offset = self._make_room(size)
                if offset < 0:
                    return -1
            self._put(kind, rest, offset)
            held.pop()
            count += 1
            done += size
        if held:
            self._limit = -1  # the logging thread still appends behind what is held
        return count

    def reserve_ahead(self, ahead: int) -> None:
        """Reserve the space the next ``ahead`` bytes of appends will take, from the monitor, so
        the logging thread seldom makes that system call itself."""
        with self._lock:
            current, offset, limit = self._map, self._offset, self._limit
        target = min(SEGMENT_BYTES, offset + ahead, current.reserved + self._ahead_cap)
        if limit < 0 or target - current.reserved < RESERVE_CHUNK_BYTES:
            return  # holding (retry() is the way back), or enough is reserved
        try:
            reserved = current.reserve(target)
        except OSError:  # the writer reserves what it needs itself, and reports a full disk
            self._ahead_cap = max(RESERVE_CHUNK_BYTES, (target - current.reserved) // 2)
            return  # asks for less next time: a nearly full disk is not tried at 8 MiB a tick
        self._ahead_cap = SEGMENT_BYTES
        with self._lock:
            if self._map is current and self._limit >= 0:
                self._limit = max(self._limit, reserved)

    def prefault(self, ahead: int) -> None:
        """Fault in the pages the next ``ahead`` bytes of appends will write, from a background
        thread (which, unlike the writer's, does not hold the GIL meanwhile)."""
        with self._lock:
            current, offset = self._map, self._offset
        done_map, done = self._prefaulted
        start = max(done, offset) if done_map is current else offset
        end = min(current.reserved, offset + ahead)  # never a page without disk space
        if end - start >= PREFAULT_MIN_BYTES:
            current.populate(start, end)
            self._prefaulted = (current, end)

    def flush(self) -> None:
        """msync what was appended (so it survives a power loss) and record that in the synced
        marker; then drop the written pages from this process's page tables (they stay in the
        page cache, but not in our RSS)."""
        with self._flush_lock:
            if self._closed or self._abandoned:
                return
            with self._lock:
                current, offset, position = self._map, self._offset, self.head[0]
                retired, self._retired = self._retired, []
            for old in retired:
                old.msync(0, SEGMENT_BYTES)
                old.close()
            flushed_map, flushed = self._flushed
            start = flushed if flushed_map is current else 0
            current.msync(start, offset)
            # The writer only touches bytes from ``offset`` on: whole pages before it are done.
            current.advise(mmap.MADV_DONTNEED, start, offset - offset % mmap.PAGESIZE)
            self._flushed = (current, offset)
            self._record_synced(position)

    def _record_synced(self, position: int) -> None:
        try:
            self._synced.record(position)
        except OSError as error:
            # The marker only narrows what a power loss can take; the log goes on without it.
            if not self._synced_failed:
                self._synced_failed = True
                self._report(
                    NeptuneLocalStorageFull(
                        f"Cannot update {self.folder / _mapped.SYNCED_FILE} ({error.strerror}):"
                        " after a power loss more of the last records may be lost"
                    )
                )
            return
        self._synced_failed = False

    def close(self) -> None:
        self.retry(force=True)
        self.flush()
        with self._flush_lock:
            if self._closed or self._abandoned:
                return
            self._closed = True
            with self._lock:
                self._held.lost_at_close()
            self._map.close()
            self._synced.close()

    def abandon(self) -> None:
        """Forget the mapping (a forked child must never write the parent's log)."""
        self._abandoned = True
        self._offset = SEGMENT_BYTES + 1  # any append would have to roll, which is refused
        self._limit = -1


def _log_report(error: BaseException) -> None:
    logger.error("%s: %s", type(error).__name__, error)


def truncate_after(folder: Path, position: int) -> None:
    """Zero everything after ``position`` (a torn tail) so new records start on clean space."""
    index, offset = divmod(position, SEGMENT_BYTES)
    path = segment_path(folder, index)
    if path.exists():
        with open(path, "r+b") as f:
            f.truncate(offset)
            f.truncate(SEGMENT_BYTES)
    for later in segment_indexes(folder):
        if later > index:
            segment_path(folder, later).unlink()


def delete_segments_before(folder: Path, position: int) -> None:
    """Remove segments every record of which lies before ``position`` (all confirmed)."""
    first_needed = position // SEGMENT_BYTES
    for index in segment_indexes(folder):
        if index < first_needed:
            segment_path(folder, index).unlink(missing_ok=True)
