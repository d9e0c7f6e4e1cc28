"""One batch per logging call: metric values checked, steps guarded, problems counted."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from neptune_scale.integrations import StepGuard, Verdict

from despina_lightning._safety import log
from despina_lightning._values import metric_value

__all__ = ["MetricBatcher", "Prepared"]

#: Neptune accepts steps in [0, 1e12) (ingest code 40 above).
MAX_STEP = 1e12


#: What the step guard's warning adds for Lightning users.
DROPPED_HINT = (
    "counted in {}/dropped_points. A new Trainer counts steps from 0 again: fit with the "
    "Trainer that ran fit before to keep the steps going"
)


@dataclass(frozen=True)
class Prepared:
    data: dict[str, float]
    step: float


class MetricBatcher:
    """Turns ``{path: raw value}`` and a step into what one ``Run.log_metrics`` call may carry."""

    def __init__(self, diagnostics_path: str = "diagnostics") -> None:
        self.guard = StepGuard(logger=log, hint=DROPPED_HINT.format(diagnostics_path))
        self._diagnostics_path = diagnostics_path
        self._problems: Counter[str] = Counter()
        self._warned: set[tuple[str, str]] = set()
        self._training_step: float | None = None

    def prepare(
        self, metrics: Mapping[str, Any], step: Any, *, fitting: bool = True
    ) -> Prepared | None:
        """The admissible part of one logging call, or None when nothing is left.

        Outside ``fit`` (``validate``/``test``/``predict``), a step below the last training step
        is raised to it: the stage follows the training in the run, as it does when the Trainer
        that ran ``fit`` carries its step count (a ``ddp_spawn`` copy or a new Trainer restarts
        at 0)."""
        resolved = self._resolve_step(step, len(metrics))
        if resolved is None:
            return None
        if not fitting and self._training_step is not None and resolved < self._training_step:
            resolved = self._training_step
        prepared = self._admit(metrics, resolved)
        if prepared is not None and (self._training_step is None or resolved > self._training_step):
            self._training_step = resolved
        return prepared

    def problem_counts(self) -> Counter[str]:
        counts = Counter(self._problems)
        counts["dropped_points"] = sum(self.guard.dropped.values())
        return counts

    def diagnostics(self) -> dict[str, int]:
        """``<diagnostics path>/<reason>`` for every problem counted so far."""
        counts = self.problem_counts()
        return {f"{self._diagnostics_path}/{reason}": n for reason, n in counts.items() if n}

    def export(self) -> dict[str, Any]:
        """What a spawned copy hands back (see ``_handoff``); JSON-safe."""
        return {
            "guard": self.guard.export(),
            "problems": dict(self._problems),
            "training_step": self._training_step,
        }

    def merge(self, state: dict[str, Any]) -> None:
        """Take in another process's state: the later steps, the larger counts."""
        self.guard.merge(state.get("guard", {}))
        for reason, count in state.get("problems", {}).items():
            self._problems[reason] = max(self._problems[reason], int(count))
        self._training_step = _later(self._training_step, state.get("training_step"))

    def _resolve_step(self, step: Any, size: int) -> float | None:
        if step is None:
            # Manual logging without a step: continue after the highest step seen so far.
            last = self.guard.last_step
            return 0.0 if last is None else math.floor(last) + 1.0
        value = metric_value(step)
        if value is None or not math.isfinite(value) or not 0 <= value < MAX_STEP:
            self._problems["invalid_step_points"] += size
            self._warn_once(
                "step",
                repr(step),
                f"Metrics at step {step!r} dropped: steps must be numbers in [0, {MAX_STEP:.0e})",
            )
            return None
        return value

    def _admit(self, metrics: Mapping[str, Any], step: float) -> Prepared | None:
        data: dict[str, float] = {}
        for path, raw in metrics.items():
            value = metric_value(raw)
            if value is None:
                self._problems["non_numeric_values"] += 1
                self._warn_once(
                    "type",
                    path,
                    f"{path}: {type(raw).__name__} is not a number; "
                    f"dropped (counted in {self._diagnostics_path}/non_numeric_values)",
                )
                continue
            if not math.isfinite(value):
                # Kept on purpose: Neptune stores NaN/±Inf, and a diverging loss is information.
                self._problems["non_finite_values"] += 1
                self._warn_once("finite", path, f"{path} is {value} at step {step}; stored as is")
            if self.guard.admit(path, step, value) is Verdict.ACCEPT:
                data[path] = value
        return Prepared(data, step) if data else None

    def _warn_once(self, kind: str, key: str, message: str) -> None:
        if (kind, key) not in self._warned:
            self._warned.add((kind, key))
            log.warning(message)


def _later(mine: float | None, theirs: Any) -> float | None:
    if not isinstance(theirs, int | float):
        return mine
    return float(theirs) if mine is None or theirs > mine else mine
