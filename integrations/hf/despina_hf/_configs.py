"""Turn TrainingArguments, model and PEFT configs into flat ``log_configs`` data, types kept.

Values keep their type where the run can hold it (bool, int, float, str, datetime); sets of
strings become string sets; nested mappings and dataclasses become ``/``-separated paths; enums
become their value; lists, tuples and other objects are stored as their ``str()`` (order kept)
so nothing is lost. ``None`` means "not set" and is left out: an absent attribute says as much.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from . import _paths

__all__ = ["flatten", "model_configs", "parameter_counts", "trainer_arg_configs"]

ConfigValue = bool | int | float | str | datetime | list[str]


def flatten(data: Mapping[str, Any], prefix: str) -> dict[str, ConfigValue]:
    """Flatten ``data`` under ``prefix`` (``prefix/key/subkey``)."""
    out: dict[str, ConfigValue] = {}
    for key, value in data.items():
        _flatten_into(out, f"{prefix}/{key}", value)
    return out


def _flatten_into(out: dict[str, ConfigValue], path: str, value: Any) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten_into(out, f"{path}/{key}", item)
        return
    converted = _scalar(value)
    if converted is not None:
        out[path] = converted


def _scalar(value: Any) -> ConfigValue | None:
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return _scalar(value.value)
    if isinstance(value, bool | int | float | str | datetime):
        return value
    if isinstance(value, set | frozenset) and all(isinstance(v, str) for v in value):
        return sorted(value)  # stored as a string set
    if isinstance(value, list | tuple):
        # Order matters in a list, and a string set would lose it: keep the list as its text.
        return str(list(value))
    if isinstance(value, os.PathLike):
        return str(os.fspath(value))
    type_name = type(value).__name__
    if type_name in ("Tensor", "ndarray") and getattr(value, "ndim", 1) == 0:
        return _scalar(value.item())
    return str(value)


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
            _flatten_into(out, f"{_paths.PEFT_CONFIG}/{adapter}", data)
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
