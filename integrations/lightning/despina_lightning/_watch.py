"""``NeptuneScaleLogger.watch``: gradient/parameter norms and histograms of the model.

Lightning loggers are not callbacks, and ``watch`` is normally called before ``fit`` (the model
has no trainer yet): the watcher hooks every optimizer's ``step()`` instead (torch's global
post-step hook, filtered to optimizers holding this model's parameters). Lightning computes the
gradients inside ``step()`` (a closure), so only after it are they those of the step. Steps are
the trainer's ``global_step`` as it is then (not yet counted up), the step Lightning logs that
batch's metrics at. The watcher lives beside the logger, not in it, so a
logger pickled for ``ddp_spawn`` carries no hook.
"""

from __future__ import annotations

import weakref
from typing import Any, Protocol

from neptune_scale.model_watch import ModelWatcher

from despina_lightning._safety import contained

__all__ = ["start_watch", "stop_watch"]


class WatchingLogger(Protocol):
    """What a watch needs of the logger (``NeptuneScaleLogger``, which imports this module)."""

    @property
    def experiment(self) -> Any: ...


_watchers: weakref.WeakKeyDictionary[Any, ModelWatcher] = weakref.WeakKeyDictionary()


def start_watch(
    logger: WatchingLogger, model: Any, namespace: str, log: str, log_freq: int
) -> ModelWatcher:
    """Hook the model (replacing an earlier ``watch`` of this logger)."""
    watcher = ModelWatcher(model, namespace, log=log, log_freq=log_freq)  # ValueError: bad args
    stop_watch(logger)
    logger_ref = weakref.ref(logger)
    model_ref = weakref.ref(model)
    counter = [0]

    def step_of() -> int:
        trainer = getattr(model_ref(), "_trainer", None)
        if trainer is not None:
            return int(trainer.global_step)
        counter[0] += 1  # a plain module outside a Trainer: count the optimizer steps
        return counter[0] - 1

    def run_of() -> Any:
        owner = logger_ref()
        return None if owner is None else owner.experiment

    watcher.hook_optimizers(step_of, run_of, contained)
    _watchers[logger] = watcher
    return watcher


def stop_watch(logger: WatchingLogger) -> None:
    watcher = _watchers.pop(logger, None)
    if watcher is not None:
        watcher.unhook()
