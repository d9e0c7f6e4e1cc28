"""Pausing Python's cyclic garbage collector while a read builds many objects that stay alive.

A runs table of 10,000 runs allocates a few hundred thousand dicts, tuples and row objects, all
kept until the table is built. Each allocation burst past the collector's threshold makes it
walk the young objects again, and now and then the whole growing heap: about a quarter of a
cold runs table's time went there. Nothing built here forms reference cycles (reference
counting frees it all), so collection waits until the build ends and then runs as usual.

The collector is process-wide: the pause is counted, so overlapping reads in several threads
turn it back on when the last one ends, and only if it was on before the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block (reference counting still frees garbage)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
