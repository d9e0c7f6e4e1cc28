"""Turning what Lightning hands a logger into values Neptune Scale stores.

Hyperparameters are flattened into ``a/b/c`` paths with their types kept where Neptune has the type
(bool, int, float, str, datetime); everything else is stored as its text so nothing is silently
dropped. Metric values become floats; NaN and ±Inf are kept as they are (a diverging loss is
information), and the first one in a series is warned about.
"""

from __future__ import annotations

import dataclasses
import logging
import traceback
from argparse import Namespace
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import Enum
from typing import Any

__all__ = [
    "ConfigValue",
    "config_value",
    "error_configs",
    "flatten_params",
    "metric_value",
    "string_list",
    "truncate_text",
]

log = logging.getLogger("despina_lightning")

ConfigValue = bool | int | float | str | datetime

#: Neptune rejects string attributes above 64 KiB (ingest code 36); we cut longer text.
MAX_STRING_BYTES = 64 * 1024
#: Neptune rejects attribute paths above 1024 UTF-8 bytes (ingest code 16).
MAX_PATH_BYTES = 1024
#: The tail of a failure's traceback that is kept (well within the string limit).
MAX_TRACEBACK_BYTES = 16 * 1024
#: Integer configs are int64 on the wire; larger ones are stored as text.
INT64_MAX = 2**63 - 1
TRUNCATION_MARK = "…[truncated]"


def truncate_text(text: str, limit: int = MAX_STRING_BYTES) -> str:
    """Cut ``text`` to at most ``limit`` UTF-8 bytes, marking the cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    keep = limit - len(TRUNCATION_MARK.encode("utf-8"))
    return data[:keep].decode("utf-8", errors="ignore") + TRUNCATION_MARK


def _children(value: Any) -> Mapping[Any, Any] | None:
    """The nested mapping inside ``value``, if it is one we flatten."""
    if isinstance(value, Namespace):
        return vars(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return value
    return None


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


def config_value(value: Any) -> ConfigValue:
    """One hyperparameter as a Neptune config value; types Neptune lacks are kept as text."""
    value = _scalar(value)
    if isinstance(value, bool | float | datetime):
        return value
    if isinstance(value, int):
        return value if -INT64_MAX - 1 <= value <= INT64_MAX else str(value)
    if isinstance(value, str):
        return truncate_text(value)
    if isinstance(value, Enum):
        return truncate_text(str(value.name))
    if isinstance(value, type) or callable(value):
        name = getattr(value, "__qualname__", None) or type(value).__qualname__
        return f"{getattr(value, '__module__', '')}.{name}".lstrip(".")
    # None, lists, tuples, sets, tensors, paths...: their text keeps order and content.
    return truncate_text(str(value))


def flatten_params(params: Any, prefix: str = "") -> dict[str, ConfigValue]:
    """Flatten nested hyperparameters into ``{"<prefix>/a/b": value}``.

    Mappings, ``argparse.Namespace`` and dataclass instances nest; paths longer than Neptune allows
    are skipped with a warning.
    """
    out: dict[str, ConfigValue] = {}
    children = _children(params)
    if children is None:
        raise TypeError(
            f"hyperparameters must be a mapping, Namespace or dataclass, got {params!r}"
        )
    for key, value in children.items():
        path = f"{prefix}/{key}" if prefix else str(key)
        nested = _children(value)
        if nested is not None and nested:
            out.update(flatten_params(value, path))
        elif len(path.encode("utf-8")) > MAX_PATH_BYTES:
            log.warning("Hyperparameter %.80s… skipped: its path exceeds %d bytes", path, 1024)
        else:
            out[path] = config_value(value) if nested is None else "{}"
    return out


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
