"""Turn TrainingArguments, model and PEFT configs into flat ``log_configs`` data, types kept.

Flattening and value rules are the integration kit's (``neptune_scale.integrations``): types kept
where the run can hold them, nested mappings and dataclasses as ``/``-separated paths, enums by
value, string sets as string sets, lists and other objects as their text, ``None`` left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neptune_scale.integrations import ConfigValue
from neptune_scale.integrations import flatten_configs as flatten

from . import _paths

__all__ = ["flatten", "model_configs", "parameter_counts", "trainer_arg_configs"]


def trainer_arg_configs(args: Any) -> dict[str, ConfigValue]:
    """``TrainingArguments`` (``to_dict()``, which already masks hub tokens) under trainer/args."""
    return flatten(args.to_dict(), _paths.TRAINER_ARGS)


def model_configs(model: Any) -> dict[str, ConfigValue]:
    """The model config and, for a PEFT model, each adapter's config."""
    out: dict[str, ConfigValue] = {}
    config = getattr(model, "config", None)
    if config is not None:
        as_dict = config if isinstance(config, Mapping) else config.to_dict()
        out.update(flatten(as_dict, _paths.MODEL_CONFIG))
    peft = getattr(model, "peft_config", None)
    if isinstance(peft, Mapping):
        for adapter, adapter_config in peft.items():
            to_dict = getattr(adapter_config, "to_dict", None)
            data = to_dict() if callable(to_dict) else adapter_config
            out.update(flatten(data, f"{_paths.PEFT_CONFIG}/{adapter}"))
    return out


def parameter_counts(model: Any) -> dict[str, ConfigValue]:
    """All and trainable parameters (a PEFT model freezes most of them)."""
    parameters = getattr(model, "parameters", None)
    if not callable(parameters):
        return {}
    total = 0
    trainable = 0
    for parameter in parameters():
        count = int(parameter.numel())
        total += count
        if parameter.requires_grad:
            trainable += count
    return {_paths.NUM_PARAMETERS: total, _paths.NUM_TRAINABLE_PARAMETERS: trainable}
