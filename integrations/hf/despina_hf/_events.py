"""One Trainer event (``on_log``, ``on_predict``) written into the session's run.

Series go through the session's step guard. Two kinds of values need more than a series point:

* ``evaluate()``/``predict()`` after ``train()`` ended: the values people report. The series
  usually hold an evaluation at that very step already (``eval_strategy`` evaluating at the end,
  always with ``load_best_model_at_end``), and a series takes one point per step, so these are
  also stored as single values under ``eval/final/<name>`` (``test/final/<name>``), last call
  wins; their series point is kept only where the step is still free, without a warning.
* A hyperparameter-search trial's evaluation: ``trial/objective``, computed as the search does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from . import _paths
from ._metrics import final_paths, is_timing, split_logs
from ._session import RunSession

__all__ = ["log_event"]

logger = logging.getLogger("despina_hf")


def log_event(session: RunSession, step: int, logs: Mapping[str, Any]) -> None:
    split = split_logs(logs)
    after_training = session.trained and not session.training
    finals = final_paths(split.metrics) if after_training else {}
    quiet = {*finals, *filter(is_timing, split.metrics)}
    metrics = session.guard.admit_all(split.metrics, step, quiet=quiet)
    if metrics:
        session.run.log_metrics(metrics, step=step)
    if finals:
        session.run.log_configs({finals[path]: split.metrics[path] for path in finals})
    if session.trial and any(path.startswith(f"{_paths.EVAL}/") for path in split.metrics):
        _log_objective(session, logs)
    strings = session.guard.admit_all(split.strings, step)
    if strings:
        session.run.log_string_series(strings, step=step)
    if split.summaries:
        session.run.log_configs(split.summaries)
    if split.unsupported:
        logger.warning("despina_hf: not logging values that are not numbers: %s", split.unsupported)


def _log_objective(session: RunSession, logs: Mapping[str, Any]) -> None:
    """The trial's objective from its last evaluation, by the Trainer's own
    ``compute_objective`` (the Trainer sets ``trainer.objective`` only after this hook, and the
    search resets it before the next trial starts)."""
    trainer = None if session.trainer is None else session.trainer()
    compute = getattr(trainer, "compute_objective", None)
    if callable(compute):
        objective = compute(dict(logs))
        if isinstance(objective, int | float) and not isinstance(objective, bool):
            session.run.log_configs({_paths.TRIAL_OBJECTIVE: float(objective)})
