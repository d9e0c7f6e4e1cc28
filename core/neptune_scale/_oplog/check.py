"""Walking what a reopened operation log holds (format: see ``_oplog``): :func:`scan` checks
every record of format 3 against its segment's index, skips damaged ones and says what was lost.

A record is intact when its bytes, checksummed from the previous index entry's sum (see
``_oplog``), give its own entry. Past a damaged record the index says where each later record
ends, so the walk goes on at the first record that checks out again (entry ``j - 1`` gives its
start and seed, entry ``j`` its end and sum); everything in between is reported as a
:class:`Damage`. A damaged index entry alone loses nothing: the record's own header gives its
end, and the next record, checked with the sum computed over it, confirms it. Format-2 segments
(no index) are walked by their headers only, as before: the walk ends at the first thing that is
not a whole record.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from neptune_scale import _oplog
from neptune_scale._oplog import (
    INDEX_ENTRY,
    KIND_SNAPSHOT,
    KINDS,
    MAX_LENGTH_BYTES,
    OTHER,
    SEGMENT_END,
    SKIP,
    Mark,
    checksum,
    index_path,
    segment_path,
)

__all__ = ["UNKNOWN", "Damage", "LogScan", "scan"]

_END, _PARTIAL, _DAMAGED, _STOP = range(4)


UNKNOWN = -1  # Damage.records where no index counts them


class Damage(NamedTuple):
    start: int  # position of the first damaged byte (where the last intact record ended)
    end: int  # position of the next intact record, or where the segment's records end
    records: int  # records lost, as the index counts them (UNKNOWN without one; 0: repaired)
    why: str

    def describe(self) -> str:
        count = "an unknown number of" if self.records == UNKNOWN else str(self.records)
        return f"{count} record(s) at bytes {self.start}..{self.end}: {self.why}"


class LogScan(NamedTuple):
    end: int  # position after the last record kept
    records: int  # from the start to ``end``, intact ones only
    marks: tuple[Mark, ...]  # what the writer would have marked between them, and the damage
    slot: int = 0  # index entries of the segment holding ``end`` (where the writer goes on)
    check: int = 0  # the running checksum of that segment up to ``end``
    damage: tuple[Damage, ...] = ()


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


class _Walk:
    """The state of a scan across segments."""

    def __init__(self, start: int, stop: int | None, synced: int) -> None:
        self.start = start  # records before it were delivered: checked, not counted
        self.stop = stop
        self.synced = synced  # every record before it had its tag when it was msynced
        self.count = 0
        self.marks: list[Mark] = []
        self.damage: list[Damage] = []
        self.slot = self.check = 0

    def keep(self, position: int, kind: int) -> None:
        if position >= self.start:
            if kind != KIND_SNAPSHOT:
                self.marks.append(Mark(position, self.count, OTHER))
            self.count += 1

    def lost(self, start: int, end: int, records: int, why: str, skip: bool) -> None:
        if end > self.start:
            self.damage.append(Damage(max(start, self.start), end, records, why))
            if skip:
                self.marks.append(Mark(max(start, self.start), self.count, SKIP, end))


def scan(folder: Path, start: int, stop: int | None = None, synced: int = 0) -> LogScan:
    """Walk the records from ``start`` (a record boundary) to the end of the log, or to ``stop``:
    what a reopened log holds. Ends at zeros after the last segment's records, or at the first
    record that would pass ``stop``; damaged records are skipped, marked and reported. A record
    without its tag is a torn tail (the writer was killed before storing it) only at or after
    ``synced``, the synced marker's position; before it, it is damage."""
    walk = _Walk(start, stop, synced)
    index = start // _oplog.SEGMENT_BYTES
    position = start
    while True:
        path = segment_path(folder, index)
        if not path.exists():
            break
        base = index * _oplog.SEGMENT_BYTES
        with open(path, "rb") as f:
            data = os.pread(f.fileno(), _oplog.SEGMENT_BYTES, 0)  # recovery: one read
        entries = _read_index(folder, index)
        if entries is None:
            offset, outcome = _walk_headers(data, max(start - base, 0), walk, base)
            if outcome == _DAMAGED:  # format 2: nothing says where the next record starts
                why = "not a record; without an index (format 2) the rest of the segment is lost"
                walk.lost(base + offset, base + len(data), UNKNOWN, why, skip=False)
        else:
            offset, outcome = _walk_checked(data, entries, walk, base)
        position = base + offset
        full = offset == _oplog.SEGMENT_BYTES  # the writer continues in the next segment
        if outcome == _STOP or not (full or segment_path(folder, index + 1).exists()):
            break
        if position >= start:
            walk.marks.append(Mark(position, walk.count, SEGMENT_END))
        index += 1
        position = index * _oplog.SEGMENT_BYTES
        walk.slot = walk.check = 0
    return LogScan(
        max(position, start),
        walk.count,
        tuple(walk.marks),
        walk.slot,
        walk.check,
        tuple(walk.damage),
    )


def _read_index(folder: Path, index: int) -> bytes | None:
    try:
        return index_path(folder, index).read_bytes()
    except FileNotFoundError:
        return None


def _walk_headers(data: bytes, pos: int, walk: _Walk, base: int) -> tuple[int, int]:
    """Format 2: (where the records end, why) walking the headers from ``pos``."""
    while True:
        record = _parse_header(data, pos)
        if record == _PARTIAL and pos == len(data):
            return pos, _END  # the segment is full to its last byte
        if not isinstance(record, tuple):
            return pos, _DAMAGED if record == _PARTIAL else record
        kind, _body, end = record
        if end > len(data):
            return pos, _DAMAGED
        if walk.stop is not None and base + end > walk.stop:
            return pos, _STOP
        walk.keep(base + pos, kind)
        pos = end


def _entry(entries: bytes, k: int) -> tuple[int, int]:
    """Index entry ``k`` (end offset, check); (0, 0) past the index's end: none written."""
    if (k + 1) * INDEX_ENTRY.size > len(entries):
        return 0, 0
    end, check = INDEX_ENTRY.unpack_from(entries, k * INDEX_ENTRY.size)
    return end, check


def _sum(data: bytes, start: int, end: int, seed: int) -> int:
    """The index's checksum of the record at ``start:end`` (its tag goes into the seed)."""
    return checksum(data[start + 1 : end], seed ^ data[start])


def _checks(data: bytes, start: int, end: int, seed: int, check: int) -> bool:
    return start < end <= len(data) and _sum(data, start, end, seed) == check


def _walk_checked(data: bytes, entries: bytes, walk: _Walk, base: int) -> tuple[int, int]:
    """Format 3: (where the intact records end, why) checking each record against the index;
    leaves the segment's index position and running check in ``walk``."""
    pos = k = check = 0
    while True:
        end, expected = _entry(entries, k)
        if end == 0 and _entry(entries, k + 1)[0] == 0:
            break  # no entry: the writer never published a record here
        if walk.stop is not None and base + end > walk.stop:
            walk.slot, walk.check = k, check
            return pos, _STOP
        header = _parse_header(data, pos)
        ok = _checks(data, pos, end, check, expected)
        if not ok and isinstance(header, tuple):  # the record may be whole, its entry not
            own_end = header[2]
            computed = _sum(data, pos, own_end, check) if own_end <= len(data) else -1
            next_end, next_check = _entry(entries, k + 1)
            if computed >= 0 and _checks(data, own_end, next_end, computed, next_check):
                end, expected, ok = own_end, computed, True
        if ok:
            walk.keep(base + pos, data[pos])
            pos, k, check = end, k + 1, expected
            continue
        resync = _resync(data, entries, k)
        if resync is None and data[pos : pos + 1] == b"\0" and base + pos >= walk.synced:
            break  # killed inside an append before the tag went in (a torn tail), or noise in
            # the index past the last record: nothing visible was lost
        if resync is None:
            last = k + 1
            while _entry(entries, last)[0]:
                last += 1
            why = _why(data, pos, header, _entry(entries, last - 1)[0])
            walk.lost(base + pos, base + _entry(entries, last - 1)[0], last - k, why, skip=False)
            walk.slot, walk.check = k, check
            return pos, _END
        j, start, seed = resync
        walk.lost(base + pos, base + start, j - k, _why(data, pos, header, end), skip=True)
        pos, k, check = start, j, seed
    walk.slot, walk.check = k, check
    _unindexed(data, pos, walk, base)
    return pos, _END


def _unindexed(data: bytes, pos: int, walk: _Walk, base: int) -> None:
    """Records after the last index entry (the writer fills the entry before the tag, so only
    damage to the index leaves them): unchecked, so reported as lost and not delivered."""
    if data[pos : pos + 1] in (b"", b"\0"):
        return
    count, end = 0, pos
    while isinstance(record := _parse_header(data, end), tuple) and record[2] <= len(data):
        count, end = count + 1, record[2]
    if count:
        why = "no index entry checks them (the index is damaged or cut short)"
        walk.lost(base + pos, base + end, count, why, skip=False)


def _resync(data: bytes, entries: bytes, k: int) -> tuple[int, int, int] | None:
    """The first record ``j > k`` that checks out against entries ``j - 1`` and ``j``, as
    (j, its start, the check seeding it); None when no later record does."""
    j = k + 1
    while True:
        start, seed = _entry(entries, j - 1)
        end, check = _entry(entries, j)
        if end == 0:
            return None
        if data[start : start + 1] != b"\0" and _checks(data, start, end, seed, check):
            return j, start, seed
        j += 1


def _why(data: bytes, pos: int, header: tuple[int, int, int] | int, end: int) -> str:
    if end > len(data):
        return "the segment file ends before them"
    if header in (_DAMAGED, _END):
        return f"record kind byte {data[pos]:#04x} is not a record kind"
    if header == _PARTIAL:
        return "the record's length runs past the segment"
    return "checksum mismatch"
