"""Containment of tracking errors: a tracking problem must never stop a study.

Every call into the client from the study callback runs inside ``contained(what)``: an exception
is logged with what was being done and swallowed, so ``study.optimize`` goes on. Tests switch
on strict mode so that a contained error fails the test instead of hiding a bug.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["contained", "set_strict"]

logger = logging.getLogger("despina_optuna")

# Environment switch for strict mode (tests, debugging): contained errors are re-raised.
STRICT_ENV = "DESPINA_OPTUNA_STRICT"

_state = {"strict": os.environ.get(STRICT_ENV, "") not in ("", "0", "false")}


def set_strict(strict: bool) -> bool:
    """Re-raise contained errors when ``strict``; returns the previous setting."""
    previous = _state["strict"]
    _state["strict"] = strict
    return previous


@contextmanager
def contained(what: str) -> Iterator[None]:
    """Log and swallow any ``Exception`` raised inside; re-raise in strict mode."""
    try:
        yield
    except Exception:
        if _state["strict"]:
            raise
        logger.exception("despina_optuna: %s failed; the study goes on without it", what)
