"""Rewriting float chunks stored before the codec existed in its compact form.

Chunks written by an older despina stay readable as they are (``_codec``: a raw array is
recognised by its length); ``despina compact`` rewrites them. Work goes in batches, one short
write transaction each, so writers of a live server keep their turns. Only chunks that no append
will rewrite (``ENCODE_FROM_POINTS`` points or more) are touched, so a chunk's content cannot
change under the rewrite. Each chunk is looked at once (a chunk whose arrays do not compress
stays raw and is not counted); running it again finds nothing to do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from despina.store._codec import ENCODE_FROM_POINTS, is_raw, stored_arrays
from despina.store._engine import Engine

__all__ = ["CompactReport", "compact_chunks"]

BATCH_CHUNKS = 200  # chunks per write transaction (about 5 MB of raw arrays)


@dataclass(frozen=True)
class CompactReport:
    """What ``compact_chunks`` did: chunks rewritten, and the float arrays' stored bytes."""

    chunks: int
    bytes_before: int
    bytes_after: int
    reclaimed: bool  # the database file was shrunk to what it now holds (SQLite's VACUUM)


def compact_chunks(
    engine: Engine, *, progress: Callable[[int], None] | None = None, reclaim: bool = True
) -> CompactReport:
    """Rewrite every raw chunk in the compact form; ``progress(n)`` after each batch of ``n``.

    ``reclaim`` then gives the freed space back to the file system where the engine can
    (SQLite: VACUUM, which needs room for a copy of the database while it runs; PostgreSQL
    reuses the space itself, and its own VACUUM FULL returns it).
    """
    with engine.read() as tx:
        before = tx.stored_chunk_bytes()
    done, after_key = 0, None
    while True:
        rewritten = 0
        with engine.write() as tx:
            keys = tx.raw_chunk_keys(ENCODE_FROM_POINTS, after_key, BATCH_CHUNKS)
            for series_pk, first_step in keys:
                chunks = tx.chunks(series_pk, first_step, first_step)
                # An array that does not compress stays raw: such a chunk is left as it is.
                gain = [c for c in chunks if not _all_raw(stored_arrays(c), c.count)]
                tx.put_chunks(gain)
                rewritten += len(gain)
        if not keys:
            break
        after_key = keys[-1]  # each chunk is looked at once, also one that stays raw
        done += rewritten
        if progress is not None:
            progress(rewritten)
    with engine.read() as tx:
        after = tx.stored_chunk_bytes()
    shrink = getattr(engine, "reclaim_space", None)
    reclaimed = bool(reclaim and done and shrink is not None)
    if reclaimed:
        assert shrink is not None
        shrink()
    return CompactReport(done, before, after, reclaimed)


def _all_raw(arrays: tuple[bytes, bytes, bytes], count: int) -> bool:
    return all(is_raw(a, count) for a in arrays)
