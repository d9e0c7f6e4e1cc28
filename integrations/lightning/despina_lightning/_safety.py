"""Containment of tracking failures: training must never stop because tracking failed.

Every call the logger makes into the client after the run exists goes through :func:`contained`.
A failure there is logged (with its traceback) and counted, never raised into the training loop.
Tests flip :data:`RERAISE` so that a contained failure still fails the test that caused it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["RERAISE", "contained", "failures"]

log = logging.getLogger("despina_lightning")

#: Set by the test suite: contained failures are re-raised instead of logged.
RERAISE = False

#: How many tracking failures were contained, by what the logger was doing.
failures: Counter[str] = Counter()


@contextmanager
def contained(action: str) -> Iterator[None]:
    """Run the block; log and count an exception instead of raising it (unless :data:`RERAISE`)."""
    try:
        yield
    except Exception:
        failures[action] += 1
        if RERAISE:
            raise
        log.warning("Neptune tracking failed while %s; training continues", action, exc_info=True)
