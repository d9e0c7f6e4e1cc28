"""The durable operation log of one run: append-only segment files written through ``mmap``.

Layout of a run folder (``<log_directory>/runs/<name>/``)::

    meta.json           project, run_id, format version, the create record's message, a crc32
    meta.copy.json      the same again (one damaged copy leaves the run's identity readable)
    lock                flock()ed by the process that owns the folder
    ops-00000000.log    segments of SEGMENT_BYTES, records back to back, zeros after the end
    ops-00000000.idx    the segment's record index: per record its end offset and a checksum
    damaged             what recovery found damaged and skipped (JSON), until the user accepts it
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

Format 3 adds an index beside each segment (``ops-N.idx``): record ``i`` of the segment owns
its 8 bytes at ``8 * i``, the record's end offset and a checksum chained over the segment's
records: ``sum_i = adler32(record_i without its tag, seed = sum_(i-1) XOR tag_i)``
(``sum_-1`` = 0). Adler-32, not CRC-32: zlib's crc32 costs ~250 ns for the ~115-byte record of
a 4-float ``log_metrics`` call where no hardware CRC is used (zlib 1.2), adler32 ~60 ns; for
records this short it still detects every change of one or two bytes (its sums do not wrap).
The tag enters through the seed, which spares the hot path a second call; another tag gives
another first sum, so another result. The records stay exactly the wire's bytes, so runs of
them are still sent as they lie; the index lets recovery check every record and, past a damaged
one, find where the next one starts (a damaged length or tag no longer hides the rest). The
writer fills the index entry before it stores the tag byte, so a visible tag still means a
complete record. Format 2 (no index, no checksums) is still read, and a writer reopening such a
folder keeps writing format 2.

A position is ``segment index * SEGMENT_BYTES + offset``: global and increasing. The writer
publishes ``head`` = (position after the last record, records appended) in one store; readers
never read past it. Records never span segments; where a segment's records end, and where a
record of another kind than a snapshot starts, is kept as a :class:`Mark`, so the sender splits
its reads there without walking the records.
"""

from __future__ import annotations

import collections
import mmap
import struct
import threading
import zlib
from pathlib import Path
from typing import NamedTuple

from neptune_scale import _mapped
from neptune_scale._encoding import varint
from neptune_scale._oplog_meta import (
    FORMAT_VERSION,
    META_COPY_FILE,
    META_FILE,
    has_meta,
    read_meta,
    read_meta_checked,
    replace_file,
    write_meta,
)

__all__ = [
    "FORMAT_VERSION",
    "KIND_CREATE",
    "KIND_FILE",
    "KIND_SNAPSHOT",
    "META_COPY_FILE",
    "META_FILE",
    "SEGMENT_BYTES",
    "LegacyLogWriter",
    "LogWriter",
    "Mark",
    "has_meta",
    "read_acked",
    "read_meta",
    "read_meta_checked",
    "replace_file",
    "write_acked",
    "write_meta",
]

SEGMENT_BYTES = 32 * 1024 * 1024  # small enough that mapped pages keep RSS low, big enough to
# hold the largest record (a 2 MiB snapshot) many times over
KIND_SNAPSHOT = 0x0A  # UpdateRunSnapshots.snapshots: a framed UpdateRunSnapshot
KIND_CREATE = 0x12  # field 2: a neptune.ingest.v1.Run message
KIND_FILE = 0x1A  # field 3: JSON {source, destination, mime_type, temporary}
KINDS = frozenset((KIND_SNAPSHOT, KIND_CREATE, KIND_FILE))
MAX_LENGTH_BYTES = 4  # a varint of at most 4 bytes: records below 256 MiB
INDEX_ENTRY = struct.Struct("<II")  # end offset of the record in its segment, running checksum
checksum = zlib.adler32  # of records (see the module docstring)
DAMAGED_FILE = "damaged"
ACKED_FILE = "acked"
PREFAULT_MIN_BYTES = 256 * 1024  # do not bother the kernel for less
SEGMENT_END, OTHER, SKIP = 0, 1, 2  # what a Mark marks


class Mark(NamedTuple):
    position: int
    ops: int  # records before ``position``
    what: int  # SEGMENT_END: this segment's records end here; OTHER: a non-snapshot starts
    # here; SKIP: damaged bytes start here, the next intact record at ``skip_to``
    skip_to: int = 0


def segment_path(folder: Path, index: int) -> Path:
    return folder / f"ops-{index:08d}.log"


def index_path(folder: Path, index: int) -> Path:
    return folder / f"ops-{index:08d}.idx"


def index_bytes() -> int:
    """Size of a segment's index: records of 32 bytes on average fill both at once (a smaller
    average rolls to the next segment sooner)."""
    return SEGMENT_BYTES // 4


def segment_indexes(folder: Path) -> list[int]:
    return sorted(int(p.name[4:12]) for p in folder.glob("ops-*.log"))


def read_acked(folder: Path) -> int:
    try:
        data = (folder / ACKED_FILE).read_bytes()
    except FileNotFoundError:
        return 0
    position, crc = struct.unpack("<QI", data[:12])
    return position if zlib.crc32(data[:8]) == crc else 0


def write_acked(folder: Path, position: int) -> None:
    raw = struct.pack("<Q", position)
    replace_file(folder / ACKED_FILE, raw + struct.pack("<I", zlib.crc32(raw)))


class LogWriter:
    """Appends records (format 3). ``append_snapshot`` is the hot path: one lock, one adler32
    call, three stores into the mappings, no system call. ``marks`` is shared with the log's
    reader, which removes the marks it has passed. ``slot`` and ``check`` continue the index of
    the segment holding ``end`` (what recovery found there)."""

    def __init__(
        self,
        folder: Path,
        end: int = 0,
        ops: int = 0,
        marks: tuple[Mark, ...] = (),
        slot: int = 0,
        check: int = 0,
    ):
        self.folder = folder
        self.head = (end, ops)  # (position after the last record, records appended)
        self.marks: collections.deque[Mark] = collections.deque(marks)
        self._lock = threading.Lock()
        self._segment = end // SEGMENT_BYTES
        self._offset = end % SEGMENT_BYTES
        self._base = self._segment * SEGMENT_BYTES
        self._map = _mapped.MappedFile(segment_path(folder, self._segment), SEGMENT_BYTES)
        self._mm = self._map.mm  # the hot path writes here: one attribute load, not two
        self._index = self._open_index(self._segment)
        self._imm = None if self._index is None else self._index.mm
        self._slot = slot * INDEX_ENTRY.size  # where the next record's index entry goes
        self._slot_limit = index_bytes() if self._index is not None else SEGMENT_BYTES
        self._check = check
        self._retired: list[_mapped.MappedFile] = []  # rolled over, closed by the next flush
        self._flush_lock = threading.Lock()
        self._synced = _mapped.SyncedFile(folder)
        self._synced.record(end)  # recover() left everything up to ``end`` on disk
        self._flushed = (self._map, self._offset, self._slot)  # msynced so far
        self._prefaulted = (self._map, self._offset)  # map and offset faulted in so far
        self._abandoned = False
        self._closed = False

    def _open_index(self, segment: int) -> _mapped.MappedFile | None:
        return _mapped.MappedFile(index_path(self.folder, segment), index_bytes())

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
            slot = self._slot
            if end > SEGMENT_BYTES or slot >= self._slot_limit:
                offset = self._roll(end_of_record)
                end = end_of_record
                slot = 0
            check = self._check = _checksum(rest, self._check ^ KIND_SNAPSHOT)
            mm = self._mm
            mm[offset + 1 : end] = rest
            _pack_entry(self._imm, slot, end, check)  # type: ignore[arg-type]
            mm[offset] = KIND_SNAPSHOT
            self._slot = slot + 8
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
            if offset + 1 + len(rest) > SEGMENT_BYTES or self._slot >= self._slot_limit:
                offset = self._roll(1 + len(rest))
            ops = self.head[1]
            self.marks.append(Mark(self._base + offset, ops, OTHER))  # before the head moves
            end = offset + 1 + len(rest)
            self._mm[offset + 1 : end] = rest
            self._index_entry(kind, rest, end)
            self._mm[offset] = kind
            self._offset = end
            self.head = (self._base + end, ops + 1)

    def _index_entry(self, kind: int, rest: bytes, end: int) -> None:
        self._check = checksum(rest, self._check ^ kind)
        INDEX_ENTRY.pack_into(self._imm, self._slot, end, self._check)  # type: ignore[arg-type]
        self._slot += INDEX_ENTRY.size

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
        if self._index is not None:
            self._retired.append(self._index)
        self._map, self._mm = new, new.mm
        self._segment += 1
        self._index = self._open_index(self._segment)
        self._imm = None if self._index is None else self._index.mm
        self._slot = self._check = 0
        self._offset = 0
        self._base = self._segment * SEGMENT_BYTES
        return 0

    def prefault(self, ahead: int) -> None:
        """Fault in the pages the next ``ahead`` bytes of appends will write, from a background
        thread (which, unlike the writer's, does not hold the GIL meanwhile)."""
        with self._lock:
            current, offset, index, slot = self._map, self._offset, self._index, self._slot
        done_map, done = self._prefaulted
        start = max(done, offset) if done_map is current else offset
        end = min(SEGMENT_BYTES, offset + ahead)
        if end - start >= PREFAULT_MIN_BYTES:
            current.populate(start, end)
            self._prefaulted = (current, end)
            if index is not None:  # 8 bytes of entry per record: for records of ~64 bytes
                index.populate(slot, min(index.size, slot + (end - offset) // 8))

    def flush(self) -> None:
        """msync what was appended (so it survives a power loss) and record that in the synced
        marker; then drop the written pages from this process's page tables (they stay in the
        page cache, but not in our RSS)."""
        with self._flush_lock:
            if self._closed or self._abandoned:
                return
            with self._lock:
                current, offset, position = self._map, self._offset, self.head[0]
                index, slot = self._index, self._slot
                retired, self._retired = self._retired, []
            for old in retired:
                old.msync(0, old.size)
                old.close()
            flushed_map, flushed, flushed_slot = self._flushed
            start, slot_start = (flushed, flushed_slot) if flushed_map is current else (0, 0)
            current.msync(start, offset)
            # The writer only touches bytes from ``offset`` on: whole pages before it are done.
            current.advise(mmap.MADV_DONTNEED, start, offset - offset % mmap.PAGESIZE)
            if index is not None:
                index.msync(slot_start, slot)
                index.advise(mmap.MADV_DONTNEED, slot_start, slot - slot % mmap.PAGESIZE)
            self._flushed = (current, offset, slot)
            self._synced.record(position)

    def close(self) -> None:
        self.flush()
        with self._flush_lock:
            if self._closed or self._abandoned:
                return
            self._closed = True
            self._map.close()
            if self._index is not None:
                self._index.close()
            self._synced.close()

    def abandon(self) -> None:
        """Forget the mapping (a forked child must never write the parent's log)."""
        self._abandoned = True
        self._offset = SEGMENT_BYTES + 1  # any append would have to roll, which is refused


class LegacyLogWriter(LogWriter):
    """Format 2 (no index, no checksums): what a writer reopening a format-2 folder appends, so
    one folder never mixes formats."""

    def _open_index(self, segment: int) -> _mapped.MappedFile | None:
        return None

    def append_snapshot(self, rest: bytes) -> None:
        end_of_record = len(rest) + 1
        with self._lock:
            offset = self._offset
            end = offset + end_of_record
            if end > SEGMENT_BYTES:
                offset = self._roll(end_of_record)
                end = end_of_record
            self._mm[offset + 1 : end] = rest
            self._mm[offset] = KIND_SNAPSHOT
            self._offset = end
            self.head = (self._base + end, self.head[1] + 1)

    def _index_entry(self, kind: int, rest: bytes, end: int) -> None:
        pass


_checksum = zlib.adler32
_pack_entry = INDEX_ENTRY.pack_into


def truncate_after(folder: Path, position: int, slot: int | None = None) -> None:
    """Zero everything after ``position`` (a torn tail) so new records start on clean space;
    ``slot``: the index entries kept in that segment (format 3)."""
    index, offset = divmod(position, SEGMENT_BYTES)
    _zero_after(segment_path(folder, index), offset, SEGMENT_BYTES)
    if slot is not None:
        _zero_after(index_path(folder, index), slot * INDEX_ENTRY.size, index_bytes())
    for later in segment_indexes(folder):
        if later > index:
            segment_path(folder, later).unlink()
            index_path(folder, later).unlink(missing_ok=True)


def _zero_after(path: Path, offset: int, size: int) -> None:
    if path.exists():
        with open(path, "r+b") as f:
            f.truncate(offset)
            f.truncate(size)


def delete_segments_before(folder: Path, position: int) -> None:
    """Remove segments every record of which lies before ``position`` (all confirmed)."""
    first_needed = position // SEGMENT_BYTES
    for index in segment_indexes(folder):
        if index < first_needed:
            segment_path(folder, index).unlink(missing_ok=True)
            index_path(folder, index).unlink(missing_ok=True)
