"""The durable operation log of one run: append-only segment files written through ``mmap``.

Layout of a run folder (``<log_directory>/runs/<name>/``)::

    meta.json           project, run_id, format version
    lock                flock()ed by the process that owns the folder
    ops-00000000.log    segments of SEGMENT_BYTES, records back to back, zeros after the end
    acked               position up to which the destination confirmed everything
    blobs/              copies of ``bytes`` file payloads until they are uploaded

A record is an 8-byte header ``<II`` (kind << 28 | payload length, crc32 of the payload) and the
payload. The writer copies the payload first and the header last, so a record whose header is
visible is complete: writes into a MAP_SHARED mapping belong to the kernel's page cache and
survive SIGKILL of the process. The crc catches records torn by a power loss (the flusher msyncs
about once a second, so at most about the last second is lost then).

A position is ``segment index * SEGMENT_BYTES + offset``: global and increasing.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import threading
import zlib
from pathlib import Path
from typing import Any

__all__ = [
    "KIND_CREATE",
    "KIND_FILE",
    "KIND_SNAPSHOT",
    "SEGMENT_BYTES",
    "Batch",
    "LogReader",
    "LogWriter",
    "read_acked",
    "read_meta",
    "write_acked",
]

SEGMENT_BYTES = 32 * 1024 * 1024  # small enough that mapped pages keep RSS low, big enough to
# hold the largest record (a 2 MiB snapshot) many times over
HEADER = struct.Struct("<II")
HEADER_BYTES = HEADER.size
KIND_SHIFT = 28
LENGTH_MASK = (1 << KIND_SHIFT) - 1
KIND_CREATE = 1  # payload: a neptune.ingest.v1.Run message
KIND_SNAPSHOT = 2  # payload: a framed UpdateRunSnapshot (UpdateRunSnapshots.snapshots entry)
KIND_FILE = 3  # payload: JSON {source, destination, mime_type, temporary}
FORMAT_VERSION = 1
META_FILE = "meta.json"
ACKED_FILE = "acked"
READ_CHUNK_BYTES = 4 * 1024 * 1024
MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)  # Linux ≥ 5.14
PREFAULT_MIN_BYTES = 256 * 1024  # do not bother the kernel for less


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
    """Appends records; ``append`` is the hot path (one lock, two memory copies, no syscall)."""

    def __init__(self, folder: Path, end: int, ops: int) -> None:
        self.folder = folder
        self.ops = ops  # records appended, including those recovered from disk
        self._lock = threading.Lock()
        self._segment = end // SEGMENT_BYTES
        self._offset = end % SEGMENT_BYTES
        self._base = self._segment * SEGMENT_BYTES
        self.position = end  # after the last record appended
        self._mm = self._map(self._segment)
        self._crc = zlib.crc32
        self._pack_into = HEADER.pack_into
        self._abandoned = False
        self._can_prefault = True
        self._prefault_segment = -1
        self._prefaulted = 0

    def _map(self, index: int) -> mmap.mmap:
        path = segment_path(self.folder, index)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size != SEGMENT_BYTES:
                os.ftruncate(fd, SEGMENT_BYTES)  # sparse: zeros cost no disk until written
            return mmap.mmap(fd, SEGMENT_BYTES, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)

    def append(self, kind: int, payload: bytes) -> None:
        """Append one record (payload first, header last: see the module docstring)."""
        n = len(payload)
        crc = self._crc(payload)
        with self._lock:
            offset = self._offset
            end = offset + HEADER_BYTES + n
            if end > SEGMENT_BYTES:
                if n + HEADER_BYTES > SEGMENT_BYTES or n > LENGTH_MASK:
                    raise ValueError(f"operation of {n} bytes exceeds the log segment size")
                self._roll()
                offset, end = 0, HEADER_BYTES + n
            mm = self._mm
            mm[offset + HEADER_BYTES : end] = payload
            self._pack_into(mm, offset, (kind << KIND_SHIFT) | n, crc)
            self._offset = end
            self.position = self._base + end  # one store: readers never see a torn position
            self.ops += 1

    def _roll(self) -> None:
        # The next segment appears only after the last write to this one: readers rely on it.
        if self._abandoned:
            raise RuntimeError("this operation log belongs to the parent process")
        old = self._mm
        self._mm = self._map(self._segment + 1)
        self._segment += 1
        self._offset = 0
        self._base = self._segment * SEGMENT_BYTES
        old.flush()
        old.close()

    def prefault(self, ahead: int) -> None:
        """Fault in the pages the next ``ahead`` bytes of appends will write, from a background
        thread, so the hot path does not take page faults (MADV_POPULATE_WRITE, Linux ≥ 5.14;
        a no-op elsewhere)."""
        if not self._can_prefault:
            return
        with self._lock:
            mm, offset, segment = self._mm, self._offset, self._segment
        if segment != self._prefault_segment:
            self._prefault_segment, self._prefaulted = segment, 0
        start = max(self._prefaulted, offset - offset % mmap.PAGESIZE)
        end = min(SEGMENT_BYTES, offset + ahead)
        if end - start < PREFAULT_MIN_BYTES:
            return
        try:
            mm.madvise(MADV_POPULATE_WRITE, start, end - start)
        except ValueError:
            return  # rolled over meanwhile
        except OSError:
            self._can_prefault = False  # the kernel does not know the advice
            return
        self._prefaulted = end

    def flush(self) -> None:
        """msync what was appended (so it survives a power loss), then drop the written pages
        from this process's page tables: they stay in the page cache, but not in our RSS."""
        with self._lock:
            mm, offset = self._mm, self._offset
        done = offset - offset % mmap.PAGESIZE  # the writer only touches bytes after offset
        try:
            mm.flush()
            if done:
                mm.madvise(mmap.MADV_DONTNEED, 0, done)
        except ValueError:
            pass  # the segment was closed meanwhile (rolled over): already flushed

    def close(self) -> None:
        with self._lock:
            if not self._mm.closed:
                self._mm.flush()
                self._mm.close()

    def abandon(self) -> None:
        """Forget the mapping (a forked child must never write the parent's log)."""
        self._abandoned = True
        self._offset = SEGMENT_BYTES + 1  # any append would have to roll, which is refused
        self._mm = _ClosedMap()  # type: ignore[assignment]


class _ClosedMap:
    closed = True

    def flush(self) -> None:
        return None

    def madvise(self, option: int, start: int, length: int) -> None:
        return None

    def close(self) -> None:
        return None


class LogReader:
    """Reads records from a position onward; tolerates a writer appending concurrently.

    ``limit`` is the writer's position when the caller knows it (everything before it is
    complete, so nothing past it is read); without one (recovery), reading stops at the first
    missing or damaged record.
    """

    def __init__(self, folder: Path, position: int) -> None:
        self.folder = folder
        self.position = position
        self._fd: int | None = None
        self._fd_segment = -1

    def _segment_fd(self, index: int) -> int | None:
        if self._fd_segment != index:
            self.close()
            try:
                self._fd = os.open(segment_path(self.folder, index), os.O_RDONLY)
            except FileNotFoundError:
                return None
            self._fd_segment = index
        return self._fd

    def read_batch(self, budget: int, limit: int | None = None) -> Batch | None:
        """The next request's records: one record of another kind alone, or consecutive
        snapshots whose payloads total at most ``budget`` bytes (at least one). Advances
        ``position`` past them; None when nothing complete is there yet."""
        parts: list[bytes] = []
        total = 0
        want = READ_CHUNK_BYTES
        while limit is None or self.position < limit:
            index, offset = divmod(self.position, SEGMENT_BYTES)
            fd = self._segment_fd(index)
            if fd is None:
                break
            size = min(want, SEGMENT_BYTES - offset)
            if limit is not None:
                size = min(size, limit - self.position)
            chunk = os.pread(fd, size, offset) if size >= HEADER_BYTES else b""
            # With a limit every record before it is complete (the writer published the limit
            # after writing them, under the GIL's happens-before), so only recovery reads
            # without a limit need the checksums.
            pos, total, status, single = _walk(chunk, parts, total, budget, limit is None)
            self.position += pos
            if single is not None:
                return single[0], [single[1]], self.position, 1
            if status == _FULL:
                break
            if status == _END or not chunk:
                if self._next_segment():
                    want = READ_CHUNK_BYTES
                    continue
                break
            if status == _PARTIAL and pos == 0:
                # One record bigger than the chunk: read exactly that record (once).
                need = HEADER_BYTES + (HEADER.unpack_from(chunk, 0)[0] & LENGTH_MASK)
                if need <= want or need > SEGMENT_BYTES - offset:
                    break  # not there (a torn tail in recovery)
                want = need
                continue
            want = READ_CHUNK_BYTES
        if not parts:
            return None
        return KIND_SNAPSHOT, parts, self.position, len(parts)

    def _next_segment(self) -> bool:
        """Move to the next segment if one exists (the writer never returns to this one)."""
        index = self.position // SEGMENT_BYTES
        if not segment_path(self.folder, index + 1).exists():
            return False
        self.position = (index + 1) * SEGMENT_BYTES
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._fd_segment = -1


# What a batch read returns: (kind, payloads, position after the last, record count).
Batch = tuple[int, list[bytes], int, int]
_FULL, _END, _PARTIAL, _MORE = range(4)


def _walk(
    chunk: bytes, parts: list[bytes], total: int, budget: int, verify: bool
) -> tuple[int, int, int, tuple[int, bytes] | None]:
    """Collect snapshot payloads from the start of ``chunk`` into ``parts``.

    Returns (bytes consumed, payload bytes collected so far, why it stopped, a lone record of
    another kind if that came first).
    """
    pos = 0
    limit = len(chunk)
    unpack_from = HEADER.unpack_from
    crc32 = zlib.crc32
    append = parts.append
    while pos + HEADER_BYTES <= limit:
        header, crc = unpack_from(chunk, pos)
        if header == 0:
            return pos, total, _END, None
        size = header & LENGTH_MASK
        end = pos + HEADER_BYTES + size
        if end > limit:
            return pos, total, _PARTIAL, None
        kind = header >> KIND_SHIFT
        if (kind != KIND_SNAPSHOT and parts) or (parts and total + size > budget):
            return pos, total, _FULL, None
        payload = chunk[pos + HEADER_BYTES : end]
        if verify and crc32(payload) != crc:
            return pos, total, _END, None  # torn by a power loss (recovery): the log ends here
        if kind != KIND_SNAPSHOT:
            return end, total, _FULL, (kind, payload)
        append(payload)
        total += size
        pos = end
    return pos, total, (_PARTIAL if pos < limit else _MORE), None


def scan_end(folder: Path, start: int) -> tuple[int, int]:
    """Position after the last intact record from ``start`` on, and the number of records."""
    reader = LogReader(folder, start)
    count = 0
    try:
        while True:
            batch = reader.read_batch(READ_CHUNK_BYTES)
            if batch is None:
                return reader.position, count
            count += batch[3]
    finally:
        reader.close()


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
