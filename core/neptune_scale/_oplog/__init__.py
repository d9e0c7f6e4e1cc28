"""The durable operation log of one run: append-only segment files written through ``mmap``.

This package is the pipeline's first stage; the writer (``LogWriter``) is here, in the package
itself, so ``neptune_scale._oplog`` stays the import point it has always been. Beside it:
``meta`` (the run's identity files), ``space`` (segment files and their disk room), ``held``
(operations kept in memory while the disk is full), ``read`` (``LogReader``, what the sender
and ``neptune sync`` read), ``check`` (recovery's scan of a log left behind), ``damage`` (what
recovery skipped, until the user accepts it) and ``legacy`` (the previous writer, for
benchmarks).

Layout of a run folder (``<log_directory>/runs/<name>/``)::

    meta.json           project, run_id, format version, the create record's message, a crc32
    meta.copy.json      the same again (one damaged copy leaves the run's identity readable)
    lock                flock()ed by the process that owns the folder
    ops-00000000.log    segments of SEGMENT_BYTES, records back to back, zeros after the end
    ops-00000000.idx    the segment's record index: per record its end offset and a checksum
    damaged             what recovery found damaged and skipped (JSON), until the user accepts it
    destination         where the log goes: local, http, offline, injected (see _pipeline)
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
folder keeps writing format 2 (``_oplog_legacy``).

A position is ``segment index * SEGMENT_BYTES + offset``: global and increasing. The writer
publishes ``head`` = (position after the last record, records appended) in one store; readers
never read past it. Records never span segments; where a segment's records end, and where a
record of another kind than a snapshot starts, is kept as a :class:`Mark`, so the sender splits
its reads there without walking the records.
"""

from __future__ import annotations

import collections
import logging
import struct
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from neptune_scale import _mapped
from neptune_scale._oplog.held import Held
from neptune_scale._oplog.meta import (
    FORMAT_VERSION,
    META_COPY_FILE,
    META_FILE,
    has_meta,
    read_meta,
    read_meta_checked,
    replace_file,
    write_meta,
)
from neptune_scale._oplog.space import SegmentFiles
from neptune_scale.exceptions import NeptuneLocalStorageFull
from neptune_scale.wire import varint

__all__ = [
    "FORMAT_VERSION",
    "KIND_CREATE",
    "KIND_FILE",
    "KIND_SNAPSHOT",
    "META_COPY_FILE",
    "META_FILE",
    "SEGMENT_BYTES",
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
DRAIN_SLICE_BYTES = 4 * 1024 * 1024  # held records written per hold of the writer's lock
SEGMENT_END, OTHER, SKIP = 0, 1, 2  # what a Mark marks

logger = logging.getLogger("neptune")


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
    the segment holding ``end`` (what recovery found there).

    Bytes of a segment or its index are written only where disk space was reserved (see
    ``_oplog_space``): past ``_limit`` (records) or ``_slot_limit`` (index entries) an append
    takes the slow path, which reserves more, rolls over to the next segment, or (no room on
    the disk) holds the record in memory (``_held``) until the monitor's :meth:`retry` finds
    room; held records get their index entries when they reach the log. While anything is held
    ``_limit`` is -1, so every append goes behind it, in order. ``meta``: (project, run_id,
    create message or None) of a new log, or of one whose identity was damaged: the writer
    writes it (``meta.json`` and its copy) when there is room, before any record, as it does
    the copy of the create record (:meth:`keep_identity`)."""

    def __init__(
        self,
        folder: Path,
        end: int = 0,
        ops: int = 0,
        marks: tuple[Mark, ...] = (),
        slot: int = 0,
        check: int = 0,
        *,
        report: Callable[[BaseException], None] | None = None,
        meta: tuple[str, str, bytes | None] | None = None,
    ):
        self.folder = folder
        self.head = (end, ops)  # (position after the last record, records appended)
        self.marks: collections.deque[Mark] = collections.deque(marks)
        self._lock = threading.Lock()
        self._segment = end // SEGMENT_BYTES
        self._offset = end % SEGMENT_BYTES
        self._base = self._segment * SEGMENT_BYTES
        self._slot = slot * INDEX_ENTRY.size  # where the next record's index entry goes
        self._check = check
        self._files = self._open_files(self._segment, self._offset, self._slot)
        self._mm = self._files.log.mm  # the hot path writes here: one attribute load, not two
        self._imm = None if self._files.index is None else self._files.index.mm
        self._limit = self._offset  # appends past it reserve space first
        self._slot_limit = self._files.limits[1]
        self._report = report or _log_report
        self._held = Held(folder, self._report)
        self._meta = meta
        self._retired: list[SegmentFiles] = []  # rolled over, closed by the next flush
        self._flush_lock = threading.Lock()
        self._synced = _mapped.SyncedFile(folder)
        self._synced_failed = False
        self._record_synced(end)  # recover() left everything up to ``end`` on disk
        self._flushed = (self._files, self._offset, self._slot)  # msynced so far
        self._prefaulted = (self._files, self._offset)  # files and offset faulted in so far
        self._abandoned = False
        self._closed = False
        if meta is not None:
            with self._lock:
                self._write_meta()

    def _open_files(self, segment: int, offset: int = 0, slot: int = 0) -> SegmentFiles:
        index = index_path(self.folder, segment)
        path = segment_path(self.folder, segment)
        return SegmentFiles(path, SEGMENT_BYTES, index, index_bytes(), offset, slot)

    @property
    def position(self) -> int:
        return self.head[0]

    @property
    def ops(self) -> int:
        return self.head[1]

    @property
    def holding(self) -> bool:
        """True while records (or the run's identity) wait in memory for room on the disk."""
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
            slot = self._slot
            if end > self._limit or slot >= self._slot_limit:
                offset = self._room(end_of_record)
                if offset < 0:
                    self._held.hold(KIND_SNAPSHOT, rest)
                    return
                end, slot = offset + end_of_record, self._slot
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
        self._append(kind, varint(len(payload)) + payload)

    def _append(self, kind: int, rest: bytes) -> None:
        with self._lock:
            offset = self._offset
            if offset + 1 + len(rest) > self._limit or self._slot >= self._slot_limit:
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
        self._index_entry(kind, rest, end)  # before the tag: a visible tag has its entry
        self._mm[offset] = kind
        self._offset = end
        self.head = (self._base + end, ops + 1)

    def _index_entry(self, kind: int, rest: bytes, end: int) -> None:
        self._check = checksum(rest, self._check ^ kind)
        INDEX_ENTRY.pack_into(self._imm, self._slot, end, self._check)  # type: ignore[arg-type]
        self._slot += INDEX_ENTRY.size

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
            index_full = self._files.index is not None and self._slot >= self._files.index.size
            if self._offset + size > SEGMENT_BYTES or index_full:
                self._roll()
            limits = self._files.reserve(self._offset + size, self._slot + INDEX_ENTRY.size)
        except OSError as error:
            self._limit = -1
            self._held.failed(error)
            return -1
        self._limit, self._slot_limit = limits
        return self._offset

    def _roll(self) -> None:
        """Continue in the next segment (under the lock)."""
        new = self._open_files(self._segment + 1)
        # The mark goes first: a reader that sees a record of the next segment sees it too.
        self.marks.append(Mark(self._base + self._offset, self.head[1], SEGMENT_END))
        self._retired.append(self._files)  # the monitor's flush msyncs and closes them
        new.ahead_cap = self._files.ahead_cap
        self._files, self._mm = new, new.log.mm
        self._imm = None if new.index is None else new.index.mm
        self._segment += 1
        self._offset = self._limit = self._slot = self._slot_limit = self._check = 0
        self._base = self._segment * SEGMENT_BYTES

    def keep_identity(self, project: str, run_id: str, create: bytes) -> None:
        """Keep the create record's message with the run's identity (both copies of meta.json),
        so recovery can rewrite a damaged create record; written when there is room, before
        any later record."""
        with self._lock:
            self._meta = (project, run_id, create)
            self._write_meta()

    def _write_meta(self) -> bool:
        """Write the identity if one waits (under the lock); False when the disk has no room."""
        if self._meta is not None:
            try:
                self._write_identity(*self._meta)
            except OSError as error:
                self._limit = -1
                self._held.failed(error)
                return False
            self._meta = None
        return True

    def _write_identity(self, project: str, run_id: str, create: bytes | None) -> None:
        write_meta(self.folder, project, run_id, create)

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
            if offset + size > self._limit or self._slot >= self._slot_limit:
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
        """Reserve the space the next ``ahead`` bytes of appends (and their index entries) will
        take, from the monitor, so the logging thread seldom makes that system call itself."""
        with self._lock:
            files, offset, slot, limit = self._files, self._offset, self._slot, self._limit
        if limit < 0 or not files.reserve_ahead(offset, slot, ahead):
            return  # holding (retry() is the way back), or no room: the writer finds out
        reserved, slots = files.limits
        with self._lock:
            if self._files is files and self._limit >= 0:
                self._limit = max(self._limit, reserved)
                self._slot_limit = max(self._slot_limit, slots)

    def prefault(self, ahead: int) -> None:
        """Fault in the pages the next ``ahead`` bytes of appends will write, from a background
        thread (which, unlike the writer's, does not hold the GIL meanwhile)."""
        with self._lock:
            files, offset, slot = self._files, self._offset, self._slot
        done_files, done = self._prefaulted
        start = max(done, offset) if done_files is files else offset
        self._prefaulted = (files, files.prefault(start, offset, slot, ahead))

    def flush(self) -> None:
        """msync what was appended (so it survives a power loss) and record that in the synced
        marker; then drop the written pages from this process's page tables."""
        with self._flush_lock:
            if self._closed or self._abandoned:
                return
            with self._lock:
                files, offset, slot, position = self._files, self._offset, self._slot, self.head[0]
                retired, self._retired = self._retired, []
            for old in retired:
                old.retire()
            flushed_files, flushed, flushed_slot = self._flushed
            start, slot_start = (flushed, flushed_slot) if flushed_files is files else (0, 0)
            files.sync(start, offset, slot_start, slot)
            self._flushed = (files, offset, slot)
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
            self._files.close()
            self._synced.close()

    def abandon(self) -> None:
        """Forget the mapping (a forked child must never write the parent's log)."""
        self._abandoned = True
        self._offset = SEGMENT_BYTES + 1  # any append would have to roll, which is refused
        self._limit = -1


def _log_report(error: BaseException) -> None:
    logger.error("%s: %s", type(error).__name__, error)


_checksum = zlib.adler32
_pack_entry = INDEX_ENTRY.pack_into


def delete_segments_before(folder: Path, position: int) -> None:
    """Remove segments every record of which lies before ``position`` (all confirmed)."""
    first_needed = position // SEGMENT_BYTES
    for index in segment_indexes(folder):
        if index < first_needed:
            segment_path(folder, index).unlink(missing_ok=True)
            index_path(folder, index).unlink(missing_ok=True)
