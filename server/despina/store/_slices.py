"""Cutting a big decoded update into slices, each applied in a write transaction of its own.

The protocol lets one request carry 16 MiB: a million string assigns, which take 15-25 s to
apply, or a million float points (about a second). Applied in one transaction, that holds the
store's single writer (SQLite's write lock, PostgreSQL's advisory lock) for as long, and every
other run's ingest waits. So an update of more than ``SLICE_BUDGET`` units of work is applied
slice by slice, in arrival order, and other writers get the lock between slices.

Work is counted per snapshot: ``ITEM_WORK`` units per assign, tag change or non-float point (each
is decoded, checked and stored one by one in Python), one unit per float point (vectorized).
A slice is a run of whole snapshots, so a snapshot's entries keep their order (assigns, tags and
other points first, then float points, as in one transaction); only a snapshot that alone holds
more than ``MAX_SLICE_ITEMS`` items is split, its float points going with its last slice.

What slicing changes: a crash between slices leaves a prefix of the update stored. The client
then re-sends the whole operation, and a replay is harmless (assigns and tag changes are
idempotent, points already stored are reported as duplicates).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt

from despina.store._decode import DecodedUpdate, FloatGroup

__all__ = ["ITEM_WORK", "MAX_SLICE_ITEMS", "SLICE_BUDGET", "SLICE_PAUSE_S", "slice_update"]

# About 25 µs per item and 1 µs per float point on a laptop core: a slice holds the writer for
# roughly a quarter of a second (benchmarks/store/bench_slices.py measures it).
ITEM_WORK = 25
SLICE_BUDGET = 250_000
MAX_SLICE_ITEMS = SLICE_BUDGET // ITEM_WORK
# Between two slices the writer waits this long: more than a waiting writer of another process
# needs to try again (``_engines.sqlite_turns.POLL_S``); writers of this process queue in turn
# anyway.
SLICE_PAUSE_S = 0.005

I64 = npt.NDArray[np.int64]


def _work(update: DecodedUpdate, item_snapshots: I64) -> I64:
    n = len(update)
    work = np.bincount(item_snapshots, minlength=n).astype(np.int64) * ITEM_WORK
    for group in update.floats:
        work += np.bincount(group.snapshots, minlength=n)
    return work


def _snapshot_ranges(work: I64) -> list[tuple[int, int]]:
    """[start, end) snapshot ranges of about ``SLICE_BUDGET`` work; a snapshot heavier than the
    budget is a range of its own."""
    cum = np.cumsum(work)
    window = (cum - work) // SLICE_BUDGET  # which budget window each snapshot starts in
    cuts = np.r_[True, window[1:] != window[:-1]]
    heavy = work > SLICE_BUDGET
    cuts |= heavy
    cuts[1:] |= heavy[:-1]
    starts = np.flatnonzero(cuts).tolist()
    return list(zip(starts, [*starts[1:], len(work)], strict=True))


def _floats_in(update: DecodedUpdate, start: int, end: int) -> list[FloatGroup]:
    """The float points of snapshots [start, end) (each group's snapshots are ascending)."""
    out = []
    for group in update.floats:
        lo, hi = np.searchsorted(group.snapshots, [start, end])
        if hi > lo:
            out.append(FloatGroup(group.path, group.snapshots[lo:hi], group.values[lo:hi]))
    return out


def _part(update: DecodedUpdate, items: slice, floats: list[FloatGroup]) -> DecodedUpdate:
    """A slice shares the per-snapshot columns: items and points keep their snapshot indexes."""
    return dataclasses.replace(update, items=update.items[items], floats=floats)


def slice_update(update: DecodedUpdate) -> list[DecodedUpdate]:
    """``update`` as one or more slices to apply in order, each within about the budget."""
    item_snapshots = np.fromiter(
        (item.snapshot for item in update.items), dtype=np.int64, count=len(update.items)
    )
    work = _work(update, item_snapshots)
    if int(work.sum()) <= SLICE_BUDGET:
        return [update]
    parts = []
    for start, end in _snapshot_ranges(work):
        first, last = np.searchsorted(item_snapshots, [start, end]).tolist()
        # Items of one heavy snapshot beyond MAX_SLICE_ITEMS go first, in slices of their own.
        while end - start == 1 and last - first > MAX_SLICE_ITEMS:
            parts.append(_part(update, slice(first, first + MAX_SLICE_ITEMS), []))
            first += MAX_SLICE_ITEMS
        parts.append(_part(update, slice(first, last), _floats_in(update, start, end)))
    return parts
