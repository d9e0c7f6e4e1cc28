"""The one worker base every background stage of the pipeline uses.

A worker is a daemon thread that calls :meth:`Worker.work` until it has nothing to do, then sleeps
until woken (:meth:`wake`) or until the delay ``work`` asked for has passed. :meth:`close` asks it
to drain within a time budget and hands back the remaining budget. Errors inside ``work`` are
contained and reported (an ``on_internal_error`` hook), never raised into the user's code.

Fork safety: threads do not survive ``os.fork``; after a fork, workers created by the parent are
dead in the child (a pid check makes every method a no-op there), so a child never sends the
parent's data twice.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable

__all__ = ["IDLE", "Worker"]

logger = logging.getLogger("neptune")

IDLE: float | None = None  # work() result: nothing to do, sleep until woken
DEFAULT_IDLE_WAKE_S = 1.0  # an idle worker still looks around this often
JOIN_GRACE_S = 0.05

_live_workers: weakref.WeakSet[Worker] = weakref.WeakSet()


class Worker:
    """Subclasses implement :meth:`work` and return 0 to be called again at once, a delay in
    seconds to be called again after it (or when woken), or :data:`IDLE`."""

    name = "neptune-worker"
    idle_wake_s = DEFAULT_IDLE_WAKE_S

    def __init__(self, on_internal_error: Callable[[BaseException], None] | None = None) -> None:
        self._on_internal_error = on_internal_error
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._drain_deadline = float("inf")
        _live_workers.add(self)

    def work(self) -> float | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def on_close(self) -> None:
        """Called in the worker thread after the last ``work``: release resources."""

    @property
    def in_owner_process(self) -> bool:
        return os.getpid() == self._pid

    def start(self) -> None:
        if self._thread is not None or not self.in_owner_process:
            return
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def close(self, timeout: float | None = None) -> float | None:
        """Drain and stop; returns the unused part of ``timeout`` (None = no limit)."""
        start = time.monotonic()
        if self._thread is None or not self.in_owner_process:
            return timeout
        self._drain_deadline = float("inf") if timeout is None else start + timeout
        self._closing.set()
        self._wake.set()
        self._thread.join(None if timeout is None else timeout + JOIN_GRACE_S)
        if timeout is None:
            return None
        return max(0.0, timeout - (time.monotonic() - start))

    def stop_now(self) -> None:
        """Stop without draining (terminate)."""
        self._drain_deadline = 0.0
        self._closing.set()
        self._wake.set()
        if self._thread is not None and self.in_owner_process:
            self._thread.join(JOIN_GRACE_S * 20)

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    def _loop(self) -> None:
        try:
            while True:
                delay = self._work_contained()
                if self._closing.is_set():
                    if time.monotonic() >= self._drain_deadline:
                        break
                    if delay is IDLE:
                        break  # drained
                if delay == 0:
                    continue
                wait = self.idle_wake_s if delay is IDLE else delay
                if self._closing.is_set():
                    wait = min(wait or 0.0, max(0.0, self._drain_deadline - time.monotonic()))
                self._wake.wait(wait)
                self._wake.clear()
        finally:
            try:
                self.on_close()
            except Exception as e:  # contained, reported
                self._contain(e)
            self._stopped.set()

    def _work_contained(self) -> float | None:
        try:
            return self.work()
        except Exception as e:  # a stage must never die silently
            self._contain(e)
            return self.idle_wake_s

    def _contain(self, error: BaseException) -> None:
        if self._on_internal_error is not None:
            self._on_internal_error(error)
        else:
            logger.error("Internal error in %s: %r", self.name, error, exc_info=error)
