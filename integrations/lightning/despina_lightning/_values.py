"""Turning what Lightning hands a logger into values Neptune Scale stores.

Hyperparameters are flattened by the integration kit (``neptune_scale.integrations``): ``a/b/c``
paths, types kept where Neptune has the type, everything else as its text, ``None`` left out.
Metric values become floats; NaN and ±Inf are kept as they are (a diverging loss is information),
and the first one in a series is warned about.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable
from typing import Any

from neptune_scale.integrations import (
    MAX_STRING_BYTES,
    ConfigValue,
    flatten_configs,
    truncate_text,
)

__all__ = [
    "MAX_STRING_BYTES",
    "ConfigValue",
    "error_configs",
    "flatten_params",
    "metric_value",
    "string_list",
    "truncate_text",
]

log = logging.getLogger("despina_lightning")

#: The tail of a failure's traceback that is kept (well within the string limit).
MAX_TRACEBACK_BYTES = 16 * 1024


def flatten_params(params: Any, prefix: str = "") -> dict[str, ConfigValue]:
    """Flatten nested hyperparameters into ``{"<prefix>/a/b": value}`` with the integration kit's
    rules (:func:`neptune_scale.integrations.flatten_configs`)."""
    try:
        return flatten_configs(params, prefix)
    except TypeError:
        raise TypeError(
            f"hyperparameters must be a mapping, Namespace or dataclass, got {params!r}"
        ) from None


def _scalar(value: Any) -> Any:
    """Unwrap 0-d tensors and numpy scalars (anything with ``.item()`` and one element)."""
    item = getattr(value, "item", None)
    numel = getattr(value, "numel", None) or getattr(value, "size", None)
    size = numel() if callable(numel) else numel
    if callable(item) and size in (1, None):
        try:
            return item()
        except (ValueError, RuntimeError):
            return value
    return value


def metric_value(value: Any) -> float | None:
    """The metric as a float, or None when it is not a number (the caller drops and counts it)."""
    kind = type(value)
    if kind is float:  # what Lightning hands over almost always: skip the probing below
        return value  # type: ignore[no-any-return]
    if kind is int or kind is bool:
        return float(value)
    value = _scalar(value)
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def error_configs(error: BaseException, path: str) -> dict[str, str]:
    """``<path>/{type,message,traceback}`` of a failure (the traceback's tail)."""
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    tail = "".join(lines).encode("utf-8")[-MAX_TRACEBACK_BYTES:].decode("utf-8", "ignore")
    return {
        f"{path}/type": f"{type(error).__module__}.{type(error).__qualname__}",
        f"{path}/message": truncate_text(str(error)),
        f"{path}/traceback": tail,
    }


def string_list(name: str, value: Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{name} must be a list, tuple or set of strings, got {value!r}")
    return list(value)
