"""The one place that decides when to try a failed delivery again.

Jittered exponential backoff ("full jitter"), honouring the server's ``retry_after_s``. A retryable
failure is never a reason to drop data: the pipeline keeps retrying until it succeeds, the run is
terminated, or the close budget runs out (then the data stays on disk for ``neptune sync``).
"""

from __future__ import annotations

import random
import time

__all__ = ["Backoff"]

BASE_DELAY_S = 0.25
MAX_DELAY_S = 30.0
REPORT_EVERY_S = 10.0  # how often a persisting failure is reported to the user again


class Backoff:
    """Tracks consecutive failures of one stage and says how long to wait."""

    def __init__(self, base_s: float = BASE_DELAY_S, max_s: float = MAX_DELAY_S) -> None:
        self._base_s = base_s
        self._max_s = max_s
        self.failures = 0
        self._not_before = 0.0
        self._last_report = float("-inf")

    def failed(self, retry_after_s: float | None = None) -> float:
        """Record a failure; returns the delay before the next attempt."""
        self.failures += 1
        cap = min(self._max_s, self._base_s * (2 ** min(self.failures - 1, 20)))
        delay = random.uniform(0.0, cap)
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        self._not_before = time.monotonic() + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self._not_before = 0.0

    def remaining_s(self) -> float:
        """Seconds until the next attempt is allowed (0 = now)."""
        return max(0.0, self._not_before - time.monotonic())

    def should_report(self) -> bool:
        """True for the first failure and then at most every REPORT_EVERY_S."""
        now = time.monotonic()
        if now - self._last_report >= REPORT_EVERY_S:
            self._last_report = now
            return True
        return False
