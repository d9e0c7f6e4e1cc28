"""Turning what the read API returns (numpy, pandas, datetimes, sets) into plain JSON values."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["finite_list", "json_value"]


def json_value(value: Any) -> Any:
    """A JSON-safe rendering: NaN/±Inf/NA become None, times ISO text, sets sorted lists."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        return value
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        return [json_value(v) for v in value.tolist()]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(str(v) for v in value)
    if isinstance(value, Iterable):
        return [json_value(v) for v in value]
    if value is pd.NA:
        return None
    return str(value)


def finite_list(values: np.ndarray[Any, Any]) -> list[float | None]:
    """Floats for JSON; non-finite values (NaN, ±Inf) become None, which charts draw as gaps."""
    array = np.asarray(values, dtype=np.float64)
    if np.isfinite(array).all():
        return array.tolist()  # type: ignore[no-any-return]
    return [v if math.isfinite(v) else None for v in array.tolist()]
