"""Errors and warnings → the run's callbacks, called from one background worker.

Stages put exceptions here; this worker calls the matching user callback with
``(exception, last_seen_at)`` (the time the same kind was reported before, or None), so a slow
or failing callback never blocks sending. Defaults log through the ``neptune`` logger.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from neptune_scale._worker import IDLE, Worker
from neptune_scale.exceptions import (
    NeptuneAsyncLagThresholdExceeded,
    NeptuneOperationsQueueMaxSizeExceeded,
    NeptuneRetryableError,
    NeptuneUnableToLogData,
)

__all__ = ["Callback", "Callbacks", "ErrorRouter"]

logger = logging.getLogger("neptune")

Callback = Callable[[BaseException, float | None], None]
MAX_QUEUED_ERRORS = 10_000  # beyond this, errors are counted and summarised, not queued


def default_error_callback(error: BaseException, last_seen_at: float | None) -> None:
    logger.error("%s: %s", type(error).__name__, error)


def default_warning_callback(error: BaseException, last_seen_at: float | None) -> None:
    logger.warning("%s: %s", type(error).__name__, error)


def default_network_error_callback(error: BaseException, last_seen_at: float | None) -> None:
    logger.warning("%s: %s", type(error).__name__, error)


@dataclass
class Callbacks:
    on_error: Callback | None = None
    on_warning: Callback | None = None
    on_network_error: Callback | None = None
    on_queue_full: Callback | None = None
    on_async_lag: Callable[[], None] | None = None

    def pick(self, error: BaseException) -> Callback:
        """The callback for ``error`` (the async-lag one, taking no arguments, is separate)."""
        if isinstance(error, NeptuneUnableToLogData):
            return self.on_warning or default_warning_callback
        if isinstance(error, NeptuneOperationsQueueMaxSizeExceeded):
            return self.on_queue_full or self.on_error or default_warning_callback
        if isinstance(error, NeptuneRetryableError):
            return self.on_network_error or default_network_error_callback
        if isinstance(error, Warning):
            return self.on_warning or default_warning_callback
        return self.on_error or default_error_callback


class ErrorRouter(Worker):
    """Queues reported exceptions and delivers them to the callbacks in its own thread."""

    name = "neptune-errors"

    def __init__(self, callbacks: Callbacks) -> None:
        super().__init__(on_internal_error=self._internal)
        self.callbacks = callbacks
        self._queue: collections.deque[BaseException] = collections.deque()
        self._last_seen: dict[type[BaseException], float] = {}
        self._overflow = 0
        self._lock = threading.Lock()
        self.reported = 0  # delivered to a callback (tests and close summaries read it)

    def report(self, error: BaseException) -> None:
        with self._lock:
            if len(self._queue) >= MAX_QUEUED_ERRORS:
                self._overflow += 1
                return
            self._queue.append(error)
        self.wake()

    def work(self) -> float | None:
        with self._lock:
            if not self._queue:
                overflow, self._overflow = self._overflow, 0
                if overflow:
                    logger.error("%d more errors were not delivered to callbacks", overflow)
                return IDLE
            error = self._queue.popleft()
        self._deliver(error)
        return 0

    def _deliver(self, error: BaseException) -> None:
        last = self._last_seen.get(type(error))
        self._last_seen[type(error)] = time.time()
        lag_callback = self.callbacks.on_async_lag
        try:
            if isinstance(error, NeptuneAsyncLagThresholdExceeded) and lag_callback is not None:
                lag_callback()
            else:
                self.callbacks.pick(error)(error, last)
        except Exception:  # a user callback must not kill the worker
            logger.exception("The callback for %s raised", type(error).__name__)
        self.reported += 1

    def drain_inline(self) -> None:
        """Deliver what is queued in the calling thread (after the worker stopped)."""
        while True:
            with self._lock:
                if not self._queue:
                    return
                error = self._queue.popleft()
            self._deliver(error)

    def _internal(self, error: BaseException) -> None:
        logger.error("Internal error while reporting errors: %r", error)
