"""What a new run is told about itself: arguments, model, trial, resume point (as configs)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from . import _paths
from ._configs import model_configs, parameter_counts, trainer_arg_configs
from ._session import RunRecord

__all__ = ["describe_run", "resumed_record"]

logger = logging.getLogger("despina_hf")

INTEGRATION_NAME = "despina_hf.NeptuneScaleCallback"


def describe_run(
    args: Any,
    state: Any,
    model: Any,
    *,
    log_parameters: bool,
    description: str | None,
    fork_step: int | None,
    trial_number: int | None,
) -> dict[str, Any]:
    """The configs a run gets when it is opened."""
    configs: dict[str, Any] = {_paths.INTEGRATION: INTEGRATION_NAME}
    if description is not None:
        configs[_paths.DESCRIPTION] = description
    if log_parameters:
        configs.update(trainer_arg_configs(args))
        if model is not None:
            configs.update(model_configs(model))
            configs.update(parameter_counts(model))
    if fork_step is not None:
        configs[_paths.RESUMED_FROM_CHECKPOINT_STEP] = fork_step
    if trial_number is not None:
        configs[_paths.TRIAL_NAME] = state.trial_name or f"trial-{trial_number}"
        configs[_paths.TRIAL_NUMBER] = trial_number
        for key, value in (state.trial_params or {}).items():
            kept = value if isinstance(value, int | float | str | bool) else str(value)
            configs[f"{_paths.TRIAL_PARAMS}/{key}"] = kept
    return configs


def resumed_record(state: Any, callback_name: str, attribute: str) -> RunRecord | None:
    """The run that wrote the checkpoint this training restored, if it was resumed.

    The Trainer saves each stateful callback's ``state()`` into the checkpoint's
    ``trainer_state.json`` and loads that file back into ``state`` before ``on_train_begin``.
    """
    if int(state.global_step) <= 0:
        return None  # a fresh training: the stored state is our own, not a checkpoint's
    stored = state.stateful_callbacks if isinstance(state.stateful_callbacks, dict) else {}
    entries = stored.get(callback_name)
    for entry in entries if isinstance(entries, list) else [entries]:
        if isinstance(entry, Mapping):
            record = RunRecord.from_json(entry.get("attributes", {}).get(attribute))
            if record is not None:
                return record
    logger.warning(
        "despina_hf: training resumed at step %s from a checkpoint that names no run; "
        "starting a new run (its steps begin there)",
        state.global_step,
    )
    return None
