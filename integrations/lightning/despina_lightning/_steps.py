"""The per-series step guard.

Neptune Scale rejects a point whose step is not strictly greater than the previous step of the same
series (and, in a forked run, not greater than the fork step). Lightning routinely logs at repeated
steps: ``epoch`` goes with every call, and train, validation and test metrics share the global step.
The guard decides per series, before anything is sent, so the client never sees such a point.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from enum import Enum
from typing import Any

__all__ = ["StepGuard", "Verdict"]

log = logging.getLogger("despina_lightning")


class Verdict(Enum):
    ACCEPT = "accept"
    #: Same step, same value as the last point: nothing new, nothing lost.
    DUPLICATE = "duplicate"
    #: Step not after the series' last step (or the fork step) with a different value: dropped.
    STALE = "stale"


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


class StepGuard:
    """Remembers the last (step, value) of every series and admits only points that may be stored.

    ``floor``: steps must be greater than this for every series (the fork step of a forked run).
    Dropped points are counted per series in :attr:`dropped` and warned about once per series.
    """

    def __init__(self, floor: float | None = None, counted_in: str = "diagnostics") -> None:
        self.floor = floor
        #: Where the dropped points are counted (named in the warning).
        self.counted_in = counted_in
        self._last: dict[str, tuple[float, float]] = {}
        self._highest: float | None = floor
        self.dropped: Counter[str] = Counter()

    @property
    def last_step(self) -> float | None:
        """The highest step admitted so far in any series (or the floor), None before any."""
        return self._highest

    def admit(self, path: str, step: float, value: float) -> Verdict:
        last = self._last.get(path)
        if last is not None and step == last[0] and _same(value, last[1]):
            return Verdict.DUPLICATE
        limit = last[0] if last is not None else self.floor
        if limit is not None and step <= limit:
            if not self.dropped[path]:
                log.warning(
                    "Dropping %s at step %s: Neptune needs steps after %s for this series; "
                    "later points at that step or before are dropped too (counted in "
                    "%s/dropped_points). A new Trainer counts steps from 0 again: fit with "
                    "the Trainer that ran fit before to keep the steps going",
                    path,
                    step,
                    limit,
                    self.counted_in,
                )
            self.dropped[path] += 1
            return Verdict.STALE
        self._last[path] = (step, value)
        if self._highest is None or step > self._highest:
            self._highest = step
        return Verdict.ACCEPT

    def export(self) -> dict[str, Any]:
        """What a spawned copy hands back (see ``_handoff``); JSON-safe."""
        last = {path: list(point) for path, point in self._last.items()}
        return {"last": last, "highest": self._highest, "dropped": dict(self.dropped)}

    def merge(self, state: dict[str, Any]) -> None:
        """Take in what another process admitted: per series, the later of the two points."""
        for path, (step, value) in state.get("last", {}).items():
            mine = self._last.get(path)
            if mine is None or step > mine[0]:
                self._last[path] = (float(step), float(value))
        highest = state.get("highest")
        if highest is not None and (self._highest is None or highest > self._highest):
            self._highest = float(highest)
        for path, count in state.get("dropped", {}).items():
            # The copy started from this process's counts: its numbers already include them.
            self.dropped[path] = max(self.dropped[path], int(count))
