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
import mmap
import os
import struct
import threading
import zlib
from pathlib import Path
from typing import Any, NamedTuple

from neptune_scale import _mapped
from neptune_scale._encoding import varint

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
SEGMENT_END, OTHER = 0, 1  # what a Mark marks


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
    tmp.write_bytes(data)
    os.replace(tmp, path)


class LogWriter:
    """Appends records. ``append_snapshot`` is the hot path: one lock, two stores into the
    mapping, no system call. ``marks`` is shared with the log's reader, which removes the marks
    it has passed."""

    def __init__(self, folder: Path, end: int = 0, ops: int = 0, marks: tuple[Mark, ...] = ()):
        self.folder = folder
        self.head = (end, ops)  # (position after the last record, records appended)
        self.marks: collections.deque[Mark] = collections.deque(marks)
        self._lock = threading.Lock()
        self._segment = end // SEGMENT_BYTES
        self._offset = end % SEGMENT_BYTES
        self._base = self._segment * SEGMENT_BYTES
        self._map = _mapped.MappedFile(segment_path(folder, self._segment), SEGMENT_BYTES)
        self._mm = self._map.mm  # the hot path writes here: one attribute load, not two
        self._retired: list[_mapped.MappedFile] = []  # rolled over, closed by the next flush
        self._flush_lock = threading.Lock()
        self._synced = _mapped.SyncedFile(folder)
        self._synced.record(end)  # recover() left everything up to ``end`` on disk
        self._flushed = (self._map, self._offset)  # map and offset msynced so far
        self._prefaulted = (self._map, self._offset)  # map and offset faulted in so far
        self._abandoned = False
        self._closed = False

    @property
    def position(self) -> int:
        return self.head[0]

    @property
    def ops(self) -> int:
        return self.head[1]

    def append_snapshot(self, rest: bytes) -> None:
        """Append a snapshot record; ``rest`` is its frame without the tag byte (the length
        varint, then the UpdateRunSnapshot). The tag goes in last: see the module docstring."""
        end_of_record = len(rest) + 1
        lock = self._lock
        lock.acquire()
        try:
            offset = self._offset
            end = offset + end_of_record
            if end > SEGMENT_BYTES:
                offset = self._roll(end_of_record)
                end = end_of_record
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
            if offset + 1 + len(rest) > SEGMENT_BYTES:
                offset = self._roll(1 + len(rest))
            ops = self.head[1]
            self.marks.append(Mark(self._base + offset, ops, OTHER))  # before the head moves
            end = offset + 1 + len(rest)
            self._mm[offset + 1 : end] = rest
            self._mm[offset] = kind
            self._offset = end
            self.head = (self._base + end, ops + 1)

    def _roll(self, size: int) -> int:
        """Continue in the next segment (under the lock); returns the offset to write at."""
        if self._abandoned:
            raise RuntimeError("this operation log belongs to the parent process")
        if size > SEGMENT_BYTES:
            raise ValueError(f"an operation of {size} bytes exceeds the log segment size")
        # The mark goes first: a reader that sees a record of the next segment sees it too.
        self.marks.append(Mark(self._base + self._offset, self.head[1], SEGMENT_END))
        new = _mapped.MappedFile(segment_path(self.folder, self._segment + 1), SEGMENT_BYTES)
        self._retired.append(self._map)  # the monitor's flush msyncs and closes it
        self._map, self._mm = new, new.mm
        self._segment += 1
        self._offset = 0
        self._base = self._segment * SEGMENT_BYTES
        return 0

    def prefault(self, ahead: int) -> None:
        """Fault in the pages the next ``ahead`` bytes of appends will write, from a background
        thread (which, unlike the writer's, does not hold the GIL meanwhile)."""
        with self._lock:
            current, offset = self._map, self._offset
        done_map, done = self._prefaulted
        start = max(done, offset) if done_map is current else offset
        end = min(SEGMENT_BYTES, offset + ahead)
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
            self._synced.record(position)

    def close(self) -> None:
        self.flush()
        with self._flush_lock:
            if self._closed or self._abandoned:
                return
            self._closed = True
            self._map.close()
            self._synced.close()

    def abandon(self) -> None:
        """Forget the mapping (a forked child must never write the parent's log)."""
        self._abandoned = True
        self._offset = SEGMENT_BYTES + 1  # any append would have to roll, which is refused


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
