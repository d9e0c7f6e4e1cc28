"""One segment of the operation log as mapped files: its records (``ops-N.log``) and, in format
3, its index (``ops-N.idx``), with the disk space of both reserved before either is written.

Both are shared mappings of sparse files, so a store into either on a full disk would be a
SIGBUS (see ``_mapped``): the writer writes a byte of either only below what :meth:`reserve`
allocated, and the monitor reserves ahead of it (:meth:`reserve_ahead`) so that the logging
thread seldom makes the system call itself.
"""

from __future__ import annotations

import mmap
import sys
from pathlib import Path

from neptune_scale import _mapped

__all__ = ["NO_INDEX", "RESERVE_CHUNK_BYTES", "SegmentFiles"]

RESERVE_CHUNK_BYTES = 1024 * 1024  # what the writer reserves when it runs out itself
INDEX_CHUNK_BYTES = RESERVE_CHUNK_BYTES // 4  # index entries of 32,768 records
ENTRY_PER_BYTES = 8  # index bytes ahead per segment byte ahead: 8-byte entries of 64-byte records
NO_INDEX = sys.maxsize  # the index limit of a format-2 segment: never reached


class SegmentFiles:
    """The records of one segment (``log``) and its index (``index``, None in format 2).
    ``offset``/``slot``: bytes of each already written (so they have their disk space)."""

    def __init__(
        self,
        log_path: Path,
        size: int,
        index_path: Path | None,
        index_size: int,
        offset: int = 0,
        slot: int = 0,
    ) -> None:
        self.log = _mapped.MappedFile(log_path, size, reserved=offset)
        self.index: _mapped.MappedFile | None = None
        if index_path is not None:
            try:
                self.index = _mapped.MappedFile(index_path, index_size, reserved=slot)
            except BaseException:
                self.log.close()
                raise
        self.ahead_cap = size  # reserve_ahead asks for at most this much of the log at once

    @property
    def limits(self) -> tuple[int, int]:
        """How far records, and index entries, may be written: what has disk space."""
        return self.log.reserved, NO_INDEX if self.index is None else self.index.reserved

    def reserve(self, end: int, slot_end: int) -> tuple[int, int]:
        """Reserve space for records up to ``end`` and index entries up to ``slot_end`` (a
        chunk more where there is room); returns :attr:`limits`. OSError: no room."""
        _grow(self.log, end, RESERVE_CHUNK_BYTES)
        if self.index is not None:
            _grow(self.index, slot_end, INDEX_CHUNK_BYTES)
        return self.limits

    def reserve_ahead(self, offset: int, slot: int, ahead: int) -> bool:
        """Reserve what the next ``ahead`` bytes of appends, and their index entries, will take
        (from the monitor); False when the disk had no room: then the next call asks for less,
        so a nearly full disk is not tried at 8 MiB a tick (the writer reserves what it needs
        itself, and reports a full disk)."""
        log = self.log
        target = min(log.size, offset + ahead, log.reserved + self.ahead_cap)
        try:
            if target - log.reserved >= RESERVE_CHUNK_BYTES:
                log.reserve(target)
            index = self.index
            if index is not None:
                want = min(index.size, slot + ahead // ENTRY_PER_BYTES)
                if want - index.reserved >= INDEX_CHUNK_BYTES:
                    index.reserve(want)
        except OSError:
            self.ahead_cap = max(RESERVE_CHUNK_BYTES, (target - log.reserved) // 2)
            return False
        self.ahead_cap = log.size
        return True

    def prefault(self, start: int, offset: int, slot: int, ahead: int) -> int:
        """Fault in the pages of records from ``start`` up to ``ahead`` bytes past ``offset``
        (and of their index entries past ``slot``), never a page without disk space; returns
        the end of what was faulted in (``start`` when that was too little to bother)."""
        end = min(self.log.reserved, offset + ahead)
        if end - start < _PREFAULT_MIN_BYTES:
            return start
        self.log.populate(start, end)
        if self.index is not None:
            self.index.populate(slot, min(self.index.reserved, slot + (end - offset) // 8))
        return end

    def sync(self, start: int, end: int, slot_start: int, slot_end: int) -> None:
        """msync records ``start:end`` and index bytes ``slot_start:slot_end``, then drop the
        whole pages before them from this process's page tables (the writer only touches
        bytes from ``end`` on; the pages stay in the page cache, but not in our RSS)."""
        self.log.msync(start, end)
        self.log.advise(mmap.MADV_DONTNEED, start, end - end % mmap.PAGESIZE)
        if self.index is not None:
            self.index.msync(slot_start, slot_end)
            self.index.advise(mmap.MADV_DONTNEED, slot_start, slot_end - slot_end % mmap.PAGESIZE)

    def retire(self) -> None:
        """msync everything (the segment was rolled over) and close."""
        for mapped in (self.log, self.index):
            if mapped is not None:
                mapped.msync(0, mapped.size)
        self.close()

    def close(self) -> None:
        self.log.close()
        if self.index is not None:
            self.index.close()


_PREFAULT_MIN_BYTES = 256 * 1024  # do not bother the kernel for less


def _grow(mapped: _mapped.MappedFile, needed: int, chunk: int) -> None:
    if needed <= mapped.reserved:
        return
    try:
        mapped.reserve(max(needed, mapped.reserved + chunk))
    except OSError:  # nearly full: what is needed now, if there is that much
        mapped.reserve(-(-needed // mmap.PAGESIZE) * mmap.PAGESIZE)
