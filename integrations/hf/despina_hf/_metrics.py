"""From the Trainer's ``logs`` dicts to one ``log_metrics`` call per event, with a step guard.

The Trainer reports flat keys: ``eval_<name>`` and ``test_<name>`` become ``eval/<name>`` and
``test/<name>``, everything else ``train/<name>``. End-of-training summaries (runtime, samples per
second, total FLOs, mean loss) are single values, so they go to configs instead of series.

The run refuses a series point whose step is not above the series' last one. The Trainer logs the
same step more than once (the final summary repeats ``epoch``; ``trainer.evaluate()`` after
training repeats the last evaluation's step), so a per-series guard drops such points before they
are sent: an exact repeat or a repeated speed figure (``eval/runtime``...) silently, a different
value with a warning. NaN and infinities are logged as they are (the store keeps them).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import _paths

__all__ = ["SplitLogs", "StepGuard", "final_paths", "split_logs"]

logger = logging.getLogger("despina_hf")

V = TypeVar("V", float, str)

# Keys the Trainer reports once, at the end of train(), as run summaries rather than series.
SUMMARY_KEYS = frozenset(
    {
        "train_runtime",
        "train_samples_per_second",
        "train_steps_per_second",
        "train_loss",
        "total_flos",
    }
)
# Per-evaluation speed figures (``eval_runtime`` ...), never the same twice.
TIMING_NAMES = frozenset(
    {"runtime", "samples_per_second", "steps_per_second", "model_preparation_time"}
)
_PREFIXES = ((f"{_paths.EVAL}_", _paths.EVAL), (f"{_paths.TEST}_", _paths.TEST))


def metric_path(key: str) -> str:
    """``eval_loss`` -> ``eval/loss``, ``test_acc`` -> ``test/acc``, ``loss`` -> ``train/loss``."""
    for prefix, namespace in _PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            return f"{namespace}/{key[len(prefix) :]}"
    return f"{_paths.TRAIN}/{key}"


@dataclass
class SplitLogs:
    metrics: dict[str, float] = field(default_factory=dict)
    summaries: dict[str, float] = field(default_factory=dict)
    strings: dict[str, str] = field(default_factory=dict)
    unsupported: dict[str, str] = field(default_factory=dict)


def split_logs(logs: Mapping[str, Any]) -> SplitLogs:
    """Sort one ``logs`` dict into series values, summaries and values that are not numbers."""
    out = SplitLogs()
    for key, value in logs.items():
        path = metric_path(key)
        number = _as_number(value)
        if number is None:
            if isinstance(value, str):
                out.strings[path] = value
            else:
                out.unsupported[path] = type(value).__name__
        elif key in SUMMARY_KEYS:
            out.summaries[path] = number
        else:
            out.metrics[path] = number
    return out


def final_paths(metrics: Mapping[str, float]) -> dict[str, str]:
    """``eval/loss`` -> ``eval/final/loss`` (and ``test/...``), for an evaluation after training."""
    final: dict[str, str] = {}
    for path in metrics:
        namespace, _, name = path.partition("/")
        if namespace in (_paths.EVAL, _paths.TEST):
            final[path] = f"{namespace}/{_paths.FINAL}/{name}"
    return final


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    item = getattr(value, "item", None)  # 0-d tensors and numpy scalars
    if callable(item) and getattr(value, "ndim", 0) == 0:
        result = item()
        if isinstance(result, int | float):
            return float(result)
    return None


class StepGuard:
    """Per-series last step; admits only points above it (and above a fork's step)."""

    def __init__(self, floor: float | None = None) -> None:
        # A forked run holds its parent's points up to the fork step: its own must come after.
        self._floor = floor
        self._last: dict[str, tuple[float, object]] = {}

    def admit(
        self, values: Mapping[str, V], step: float, quiet: Collection[str] = ()
    ) -> dict[str, V]:
        """The points that may be logged at ``step``; the rest are dropped (with a warning
        unless they exactly repeat what the series already holds at that step, or their path
        is in ``quiet``: stored elsewhere)."""
        admitted: dict[str, V] = {}
        rejected: list[str] = []
        for path, value in values.items():
            if self._floor is not None and step <= self._floor:
                if path not in quiet:
                    rejected.append(path)
                continue
            last = self._last.get(path)
            if last is None or step > last[0]:
                admitted[path] = value
                self._last[path] = (step, value)
            elif path in quiet:
                continue
            elif not (last[0] == step and (_same(last[1], value) or _is_timing(path))):
                rejected.append(path)
        if rejected:
            logger.warning(
                "despina_hf: not logging %s at step %s: each series needs steps above its last "
                "one (and above the fork step of a resumed run)",
                ", ".join(sorted(rejected)),
                step,
            )
        return admitted


def _is_timing(path: str) -> bool:
    """Speed figures of a repeated evaluation at the same step (``trainer.evaluate()`` right
    after training evaluated at its last step) differ by nature; the metrics themselves match."""
    return path.rsplit("/", 1)[-1] in TIMING_NAMES


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b
