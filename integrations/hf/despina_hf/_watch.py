"""``NeptuneScaleCallback(watch_model=...)``: gradient/parameter norms and histograms.

The Trainer's ``on_optimizer_step`` comes right after ``optimizer.step()`` and before the
gradients are zeroed: the gradients of the step and the parameters it produced are both there.
The step is ``global_step + 1``, the step the Trainer logs that update's loss at.
"""

from __future__ import annotations

from typing import Any

from neptune_scale.model_watch import WATCH_MODES, ModelWatcher

__all__ = ["WatchSpec"]

NAMESPACE = "model/watch"


class WatchSpec:
    """What to watch, checked when the callback is built (a typo fails before training)."""

    def __init__(self, log: str, log_freq: int) -> None:
        if log not in WATCH_MODES:
            raise ValueError(f"watch_model must be one of {WATCH_MODES} or None, got {log!r}")
        if not isinstance(log_freq, int) or isinstance(log_freq, bool) or log_freq < 1:
            raise ValueError(f"watch_log_freq must be an integer >= 1, got {log_freq!r}")
        self.log = log
        self.log_freq = log_freq

    def watcher(self, model: Any) -> ModelWatcher | None:
        """A watcher for this training's model (None when the Trainer passed none)."""
        if model is None:
            return None
        return ModelWatcher(model, NAMESPACE, log=self.log, log_freq=self.log_freq)

    @staticmethod
    def trainer_step(state: Any) -> int:
        return int(state.global_step) + 1
