"""Containment of tracking errors: a tracking problem must never break the training loop.

Every call into the client from a Trainer hook runs inside ``contained(what)``: an exception is
logged (with what was being done) and swallowed. Tests switch on strict mode so a contained error
fails the test instead of hiding a bug.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["contained", "set_strict"]

logger = logging.getLogger("despina_hf")

# Environment switch for strict mode (tests, debugging): contained errors are re-raised.
STRICT_ENV = "DESPINA_HF_STRICT"

_strict = os.environ.get(STRICT_ENV, "") not in ("", "0", "false")


def set_strict(strict: bool) -> bool:
    """Re-raise contained errors when ``strict``; returns the previous setting."""
    global _strict
    previous = _strict
    _strict = strict
    return previous


@contextmanager
def contained(what: str) -> Iterator[None]:
    """Log and swallow any ``Exception`` raised inside; re-raise in strict mode."""
    try:
        yield
    except Exception:
        if _strict:
            raise
        logger.exception("despina_hf: %s failed; training goes on without it", what)
