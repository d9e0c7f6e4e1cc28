"""Once a second: msync the log (power-loss window), and watch the backlog and the lag. Every
tick: reserve disk space and fault in pages ahead of the writer, and retry writing what a full
disk left held in memory.

The hot path records nothing for these: the monitor samples the log's end position over time,
so the age of the oldest unsent operation is known to within one tick.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

from neptune_scale._oplog import LogWriter
from neptune_scale._sender import PipelineState
from neptune_scale._worker import Worker
from neptune_scale.exceptions import (
    NeptuneAsyncLagThresholdExceeded,
    NeptuneOperationsQueueMaxSizeExceeded,
)

__all__ = ["Monitor"]

TICK_S = 1.0  # msync period: a power loss loses at most about this much
PREFAULT_TICK_S = 0.1  # how often the pages ahead of the writer are faulted in
PREFAULT_AHEAD_BYTES = 8 * 1024 * 1024  # ~ what a fast loop appends in 0.2 s; also the RSS cost
MAX_SAMPLES = 3600


class Monitor(Worker):
    name = "neptune-monitor"

    def __init__(
        self,
        writer: LogWriter,
        state: PipelineState,
        report: Callable[[BaseException], None],
        *,
        max_queue_size: int,
        lag_threshold_s: float | None,
        tick_s: float = TICK_S,
        sending: bool = True,
    ) -> None:
        super().__init__(on_internal_error=report)
        self._writer = writer
        self._state = state
        self._report = report
        self._max_queue_size = max_queue_size
        self._lag_threshold_s = lag_threshold_s
        self._tick_s = min(tick_s, lag_threshold_s) if lag_threshold_s else tick_s
        self._samples: collections.deque[tuple[int, float]] = collections.deque()
        self._queue_full_reported = False
        self._lag_reported = False
        self._flushed_position = -1
        self._next_tick = 0.0
        self._sending = sending

    def work(self) -> float | None:
        self._writer.retry()  # records held in memory while the disk was full
        self._writer.reserve_ahead(PREFAULT_AHEAD_BYTES)
        self._writer.prefault(PREFAULT_AHEAD_BYTES)
        now = time.monotonic()
        if now < self._next_tick:
            return min(PREFAULT_TICK_S, self._next_tick - now)
        self._next_tick = now + self._tick_s
        position = self._writer.position
        if position != self._flushed_position:
            self._writer.flush()
            self._flushed_position = position
        if self._sending:
            self._check_queue()  # an offline run's backlog is its whole point
            self._check_lag(position)
        return PREFAULT_TICK_S

    def pending_ops(self) -> int:
        return self._writer.ops - self._state.acked_ops

    def _check_queue(self) -> None:
        pending = self.pending_ops()
        if pending > self._max_queue_size:
            if not self._queue_full_reported:
                self._queue_full_reported = True
                self._report(
                    NeptuneOperationsQueueMaxSizeExceeded(
                        f"{pending} operations are waiting to be delivered, more than "
                        f"max_queue_size={self._max_queue_size}; they are kept on disk, "
                        "logging continues"
                    )
                )
        else:
            self._queue_full_reported = False

    def _check_lag(self, position: int) -> None:
        now = time.monotonic()
        samples = self._samples
        if not samples or samples[-1][0] != position:
            samples.append((position, now))
            if len(samples) > MAX_SAMPLES:
                samples.popleft()
        sent = self._state.sent_position
        while samples and samples[0][0] <= sent:
            samples.popleft()
        if self._lag_threshold_s is None or not samples:
            self._lag_reported = False
            return
        age = now - samples[0][1]
        if age > self._lag_threshold_s:
            if not self._lag_reported:
                self._lag_reported = True
                self._report(
                    NeptuneAsyncLagThresholdExceeded(
                        f"The oldest unsent operation is {age:.1f} s old, more than "
                        f"async_lag_threshold={self._lag_threshold_s} s"
                    )
                )
        else:
            self._lag_reported = False
