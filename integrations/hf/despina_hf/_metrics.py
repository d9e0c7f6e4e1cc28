"""From the Trainer's ``logs`` dicts to one ``log_metrics`` call per event, with a step guard.

The Trainer reports flat keys: ``eval_<name>`` and ``test_<name>`` become ``eval/<name>`` and
``test/<name>``, everything else ``train/<name>``. End-of-training summaries (runtime, samples per
second, total FLOs, mean loss) are single values, so they go to configs instead of series.

The run refuses a series point whose step is not above the series' last one. The Trainer logs the
same step more than once (the final summary repeats ``epoch``; ``trainer.evaluate()`` after
training repeats the last evaluation's step), so the integration kit's per-series
``StepGuard`` drops such points before they are sent: an exact repeat silently, a different value
with a warning once per series; speed figures (``eval/runtime``...) are passed as quiet, since a
repeated evaluation's differ by nature. NaN and infinities are logged as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _paths

__all__ = ["SplitLogs", "final_paths", "is_timing", "split_logs"]

logger = logging.getLogger("despina_hf")

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


def is_timing(path: str) -> bool:
    """Speed figures of a repeated evaluation at the same step (``trainer.evaluate()`` right
    after training evaluated at its last step) differ by nature; the metrics themselves match."""
    return path.rsplit("/", 1)[-1] in TIMING_NAMES
