"""``NeptuneLoggingHandler``: Python ``logging`` records → a string series of a run."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from neptune_scale._run import Run

__all__ = ["NeptuneLoggingHandler"]

LINE_STEP = 1e-6  # records are numbered in micro-steps, like captured console lines


class NeptuneLoggingHandler(logging.Handler):
    """Appends every formatted record to ``attribute_path`` (default ``runtime/logs``).

    Records of the client's own ``neptune`` logger are skipped, so reporting a tracking problem
    cannot loop back into tracking.
    """

    def __init__(
        self, run: Run, level: int = logging.NOTSET, attribute_path: str = "runtime/logs"
    ) -> None:
        super().__init__(level)
        self._run = run
        self._path = attribute_path
        self._step = 0.0
        self._step_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "neptune" or record.name.startswith("neptune."):
            return
        try:
            message = self.format(record)
            with self._step_lock:
                self._step = round(self._step + LINE_STEP, 6)
                step = self._step
            when = datetime.fromtimestamp(record.created).astimezone()
            self._run.log_string_series({self._path: message}, step, timestamp=when)
        except Exception:  # logging handlers must not raise
            self.handleError(record)
