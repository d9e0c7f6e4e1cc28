"""Operations held in memory while the disk has no room for the operation log.

Once a reservation of log space failed, the writer puts every record here (under its lock) until
everything held went into the log again, so the order of operations never changes. The monitor
retries with a growing delay, so a full disk costs the logging thread no system calls. Memory
is bounded: past ``MAX_HELD_BYTES`` an operation is dropped, counted and reported through
``on_queue_full_callback`` (as the official client reports a full queue), never silently.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from pathlib import Path

from neptune_scale.exceptions import (
    NeptuneLocalStorageFull,
    NeptuneOperationsQueueMaxSizeExceeded,
)

__all__ = ["MAX_HELD_BYTES", "Held"]

logger = logging.getLogger("neptune")

MAX_HELD_BYTES = 64 * 1024 * 1024  # ~ a minute of a fast loop; what a full disk may cost in RAM
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0  # once space returns, writing resumes within this
DROP_REPORT_EVERY_S = 5.0  # further drops are summed up this often, not reported one by one


class Held:
    def __init__(self, folder: Path, report: Callable[[BaseException], None]) -> None:
        self.records: collections.deque[tuple[int, bytes]] = collections.deque()
        self.bytes = 0
        self.dropped = 0  # operations lost to a full disk since the writer started
        self.full: OSError | None = None  # set while the disk has no room
        self._folder = folder
        self._report = report
        self._reported_dropped = 0
        self._next_drop_report = 0.0
        self._retry_at = 0.0
        self._delay = RETRY_FIRST_S

    def __bool__(self) -> bool:
        return bool(self.records)

    def failed(self, error: OSError) -> None:
        """A reservation or write for the log failed: hold, and retry after a while."""
        if self.full is None:
            self._report(
                NeptuneLocalStorageFull(
                    f"No room for the operation log in {self._folder} ({error.strerror or error}"
                    f"); logging continues, holding up to {MAX_HELD_BYTES >> 20} MiB of "
                    "operations in memory until there is room (they are lost if the process "
                    "dies before that); beyond that, operations are dropped and counted"
                )
            )
        self.full = error
        self._retry_at = time.monotonic() + self._delay
        self._delay = min(RETRY_MAX_S, self._delay * 2)

    def due(self) -> bool:
        return time.monotonic() >= self._retry_at

    def hold(self, kind: int, rest: bytes) -> None:
        if self.bytes + len(rest) > MAX_HELD_BYTES:
            self.dropped += 1
            if self.dropped == 1:
                self.report_drops(force=True)  # the first loss is reported at once
            return
        self.records.append((kind, rest))
        self.bytes += len(rest)

    def pop(self) -> None:
        self.bytes -= len(self.records.popleft()[1])

    def report_drops(self, *, force: bool = False) -> None:
        """Report operations dropped since the last report (at most every few seconds)."""
        new = self.dropped - self._reported_dropped
        now = time.monotonic()
        if new <= 0 or (not force and now < self._next_drop_report):
            return
        self._reported_dropped = self.dropped
        self._next_drop_report = now + DROP_REPORT_EVERY_S
        self._report(
            NeptuneOperationsQueueMaxSizeExceeded(
                f"The disk holding {self._folder} is full and {MAX_HELD_BYTES >> 20} MiB of "
                f"operations are held in memory: {new} more operations were dropped "
                f"({self.dropped} in total)"
            )
        )

    def resumed(self, written: int) -> None:
        """Everything held is in the log again."""
        if self.full is not None:
            logger.warning(
                "There is room for the operation log in %s again: %d operations held in memory "
                "were written to it%s",
                self._folder,
                written,
                f"; {self.dropped} were dropped while the disk was full" if self.dropped else "",
            )
        self.full = None
        self._delay = RETRY_FIRST_S
        self._retry_at = 0.0

    def lost_at_close(self) -> None:
        """The log is closing with records still held: they are dropped, and reported."""
        self.report_drops(force=True)
        if self.records:
            lost = len(self.records)
            self.dropped += lost
            self._reported_dropped = self.dropped
            self.records.clear()
            self.bytes = 0
            self._report(
                NeptuneOperationsQueueMaxSizeExceeded(
                    f"The run's log closed while the disk holding {self._folder} was still "
                    f"full: {lost} operations held in memory were dropped ({self.dropped} in "
                    "total)"
                )
            )
