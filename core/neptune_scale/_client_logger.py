"""The client's own ``neptune`` logger: visible by default, quiet when asked.

Messages go to stderr as ``neptune:LEVEL: message`` unless the application configured logging
itself (a handler on the root logger), in which case they simply propagate there.
``NEPTUNE_LOGGER_LEVEL`` (none, debug, info, warning, error, critical; default info) sets the
level.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["setup_client_logger"]

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "none": logging.CRITICAL + 10,
}
_handler: logging.Handler | None = None


def setup_client_logger() -> logging.Logger:
    global _handler
    logger = logging.getLogger("neptune")
    level = os.environ.get("NEPTUNE_LOGGER_LEVEL", "info").lower()
    logger.setLevel(LEVELS.get(level, logging.INFO))
    if _handler is None and not logger.handlers and not logging.getLogger().handlers:
        # Bound to the stderr of this moment: console capture, installed later, never sees
        # (and never re-logs) the client's own messages.
        _handler = logging.StreamHandler(sys.stderr)
        _handler.setFormatter(logging.Formatter("neptune:%(levelname)s: %(message)s"))
        logger.addHandler(_handler)
    return logger
