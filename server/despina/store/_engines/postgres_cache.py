"""The last chunk of recently appended float series, kept by a PostgreSQL engine.

Every append reads its series' last (partly filled) chunk to extend it. Fetching it means
detoasting and shipping three packed arrays; a writer usually wrote that very chunk itself one
batch earlier. The cache keeps what this process last wrote, and ``last_chunk`` uses it only when
the database's last chunk has the same (first step, last step, count): steps only grow, so equal
bounds and count mean equal content. A chunk from a rolled-back transaction, or one another
process has since extended, never matches and is read again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from despina.store._model import FloatChunk

__all__ = ["ChunkCache"]

MAX_CACHED_SERIES = 2048  # about 25 KiB per chunk of 1,024 points: ~50 MiB at most


class ChunkCache:
    """Thread-safe, least recently used, one chunk per series."""

    def __init__(self, size: int = MAX_CACHED_SERIES) -> None:
        self._size = size
        self._chunks: OrderedDict[int, FloatChunk] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, series_pk: int, first: float, last: float, count: int) -> FloatChunk | None:
        with self._lock:
            chunk = self._chunks.get(series_pk)
            if chunk is None or (chunk.first_step, chunk.last_step, chunk.count) != (
                first,
                last,
                count,
            ):
                return None
            self._chunks.move_to_end(series_pk)
            return chunk

    def put(self, chunk: FloatChunk, *, read: bool = False) -> None:
        """Keep ``chunk``: one just ``read`` as the last always; a written one unless it lies
        before the held one (a batch writes its chunks in step order, the last one last)."""
        with self._lock:
            held = self._chunks.get(chunk.series_pk)
            if not read and held is not None and held.first_step > chunk.first_step:
                return
            self._chunks[chunk.series_pk] = chunk
            self._chunks.move_to_end(chunk.series_pk)
            while len(self._chunks) > self._size:
                self._chunks.popitem(last=False)
