"""What the operation log needs from the kernel beyond ``mmap``: msync and madvise calls that let
other threads run, disk space reserved before it is written, the boot id, and the ``synced``
marker.

A store into a shared mapping of a sparse file allocates the disk block when the page is first
written; on a full disk the kernel can only answer that with SIGBUS, which kills the process.
So no byte of a mapping is written before :meth:`MappedFile.reserve` allocated it
(``posix_fallocate``; zeros written where the file system cannot allocate, as on some network
and copy-on-write file systems): a full disk is then an ``OSError`` of a system call, which the
writer turns into a report.

``mmap.mmap.flush`` and ``mmap.mmap.madvise`` hold the GIL for the whole system call. An msync
waits for the disk and a populating madvise faults in thousands of pages, so from the background
monitor they would stall the training loop's thread for milliseconds. Called through ``ctypes``
(which releases the GIL around foreign calls) they cost the logging thread nothing.

The ``synced`` marker records how far the log was msynced, and during which boot. After a power
loss (a new boot id) only the records before that position are known to be whole on disk; within
one boot the page cache holds every record the writer published, whatever happened to the
process. It has two slots written alternately, each with a sequence number and a crc32, so a slot
torn by a power loss leaves the other one readable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import os
import struct
import sys
import threading
import zlib
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["MappedFile", "Synced", "SyncedFile", "boot_id", "read_synced"]

MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)  # Linux >= 5.14
MS_SYNC = getattr(mmap, "MS_SYNC", 4)
SYNCED_FILE = "synced"
_SLOT = struct.Struct("<QQ16sI")  # sequence, position, boot id, crc32 of the first three
_SLOT_BYTES = 512  # one sector each: a torn write spoils at most the slot being written
_fdatasync = getattr(os, "fdatasync", os.fsync)  # macOS has only fsync
_posix_fallocate = getattr(os, "posix_fallocate", None)  # absent on macOS
# What a file system answers when it cannot allocate ahead (musl passes EOPNOTSUPP through;
# glibc writes zeros itself): then we write the zeros.
_CANNOT_ALLOCATE = frozenset({errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL})
_ZEROS = bytes(64 * 1024)


def _load_libc() -> Any:
    if not sys.platform.startswith(("linux", "darwin")):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        for name in ("msync", "madvise"):
            function = getattr(libc, name)
            function.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
            function.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


_libc = _load_libc()


class MappedFile:
    """A writable shared mapping of a whole file, with msync and madvise that release the GIL.

    The mapping is closed only by :meth:`close`, under a lock that the system calls also hold, so
    a call never reaches memory that was unmapped (and perhaps mapped again for something else).
    ``reserved``: bytes before it have disk space (those before ``reserved`` as passed in are
    records already written).
    """

    def __init__(self, path: Path, size: int, reserved: int = 0) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size != size:
                os.ftruncate(fd, size)  # sparse: zeros cost no disk until reserved
            self.mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd  # kept for reserve(); closed with the mapping
        self.size = size
        self.reserved = reserved
        self._lock = threading.Lock()
        self._reserve_lock = threading.Lock()  # not _lock: a reservation never waits for msync
        self._address = _address_of(self.mm) if _libc is not None else None
        self.can_populate = True

    def msync(self, start: int, end: int) -> None:
        """Write the pages holding bytes ``start:end`` to the disk and wait for it."""
        start -= start % mmap.PAGESIZE
        with self._lock:
            if self.mm.closed or end <= start:
                return
            if self._address is None:
                self.mm.flush(start, end - start)
            elif _libc.msync(self._address + start, end - start, MS_SYNC) != 0:
                raise OSError(ctypes.get_errno(), "msync failed")

    def advise(self, advice: int, start: int, end: int) -> bool:
        """madvise for bytes ``start:end`` (page aligned down); False when the kernel refuses."""
        start -= start % mmap.PAGESIZE
        with self._lock:
            if self.mm.closed or end <= start:
                return True
            if self._address is None:
                try:
                    self.mm.madvise(advice, start, end - start)
                except OSError:
                    return False
                return True
            return bool(_libc.madvise(self._address + start, end - start, advice) == 0)

    def populate(self, start: int, end: int) -> None:
        """Fault in the pages of bytes ``start:end`` for writing, so the writer does not take
        the page faults (MADV_POPULATE_WRITE, Linux >= 5.14; a no-op where it is unknown)."""
        if self.can_populate and not self.advise(MADV_POPULATE_WRITE, start, end):
            self.can_populate = False

    def reserve(self, end: int) -> int:
        """Allocate disk space for the bytes up to ``end`` (at most the file's size); returns
        how far space is reserved now. Raises OSError (ENOSPC, EDQUOT, ...) when there is no
        room; what was reserved before stays reserved."""
        end = min(end, self.size)
        with self._reserve_lock:
            start = self.reserved
            if end > start and self._fd >= 0:
                _allocate(self._fd, start, end)
                self.reserved = end
            return self.reserved

    def close(self) -> None:
        with self._reserve_lock, self._lock:
            if not self.mm.closed:
                self.mm.close()
            if self._fd >= 0:  # under the reservation lock: a closed fd number is never reused
                os.close(self._fd)
                self._fd = -1


def _allocate(fd: int, start: int, end: int) -> None:
    if _posix_fallocate is not None:
        try:
            _posix_fallocate(fd, start, end - start)
            return
        except OSError as error:
            if error.errno not in _CANNOT_ALLOCATE:
                raise
    # Only zeros lie beyond the writer's records, so writing zeros there changes no byte; it
    # makes the file system allocate the blocks now, where a failure is an error, not SIGBUS.
    offset = start
    while offset < end:
        offset += os.pwrite(fd, _ZEROS[: min(len(_ZEROS), end - offset)], offset)


def _address_of(mm: mmap.mmap) -> int | None:
    try:
        view = ctypes.c_char.from_buffer(mm)  # a buffer export: released again right below
    except (TypeError, ValueError):
        return None  # then the mmap methods do the work (holding the GIL)
    address = ctypes.addressof(view)
    del view
    return address


def boot_id() -> bytes:
    """16 bytes that change with every boot of this machine. Zeros where no source is known
    (neither Linux's boot_id nor psutil): a reboot then goes unnoticed, and recovery trusts every
    published record, as it does within one boot."""
    try:
        text = Path("/proc/sys/kernel/random/boot_id").read_text("ascii")
        return bytes.fromhex(text.strip().replace("-", ""))[:16].ljust(16, b"\0")
    except (OSError, ValueError):
        pass
    try:  # macOS and other systems with psutil: the boot time, to the second
        import psutil

        return struct.pack("<d", float(psutil.boot_time())).ljust(16, b"\0")
    except Exception:
        return bytes(16)


class Synced(NamedTuple):
    sequence: int
    position: int
    boot_id: bytes


def read_synced(folder: Path) -> Synced | None:
    """The newest intact slot of the marker, or None when there is none."""
    try:
        data = (folder / SYNCED_FILE).read_bytes()
    except FileNotFoundError:
        return None
    best: Synced | None = None
    for offset in (0, _SLOT_BYTES):
        raw = data[offset : offset + _SLOT.size]
        if len(raw) < _SLOT.size:
            continue
        sequence, position, boot, crc = _SLOT.unpack(raw)
        if zlib.crc32(raw[:-4]) == crc and (best is None or sequence > best.sequence):
            best = Synced(sequence, position, boot)
    return best


class SyncedFile:
    """Writes the marker: ``record(position)`` after everything before ``position`` is on disk."""

    def __init__(self, folder: Path) -> None:
        self._fd = os.open(folder / SYNCED_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        last = read_synced(folder)
        self._sequence = 0 if last is None else last.sequence
        self._boot = boot_id()

    def record(self, position: int) -> None:
        self._sequence += 1
        raw = _SLOT.pack(self._sequence, position, self._boot, 0)[:-4]
        slot = raw + struct.pack("<I", zlib.crc32(raw))
        os.pwrite(self._fd, slot, (self._sequence % 2) * _SLOT_BYTES)
        _fdatasync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
