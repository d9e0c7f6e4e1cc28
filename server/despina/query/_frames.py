"""Building the DataFrames of metrics, series and buckets (one run × attribute at a time)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from despina.query._buckets import Buckets
from despina.query._points import FloatPoints, ObjectPoints, readable_ms

__all__ = ["BUCKET_COLUMNS", "absolute_times", "bucket_frame", "points_frame"]


BUCKET_COLUMNS = [
    "run",
    "attribute",
    "bucket",
    "from_step",
    "to_step",
    "first_step",
    "first_value",
    "last_step",
    "last_value",
    "min",
    "max",
    "count",
    "finite_count",
    "nan_count",
    "positive_inf_count",
    "negative_inf_count",
    "sum",
]


def _column(
    path: str, cols: FloatPoints | ObjectPoints, include_time: bool, previews: bool
) -> pd.DataFrame:
    steps = np.asarray(cols.steps, dtype=np.float64)
    values: Any = (
        cols.values if isinstance(cols, FloatPoints) else pd.array(cols.values, dtype=object)
    )
    data: dict[Any, Any] = {(path, "value"): values}
    if include_time:
        data[(path, "absolute_time")] = absolute_times(cols.timestamps)
    if previews:
        data[(path, "is_preview")] = np.asarray(cols.preview, dtype=bool)
        data[(path, "preview_completion")] = np.asarray(cols.completion, dtype=np.float64)
    frame = pd.DataFrame(data, index=pd.Index(steps, name="step"))
    if not include_time and not previews:
        frame.columns = [path]
    return frame


def absolute_times(timestamps: Any) -> pd.DatetimeIndex:
    """Epoch ms as UTC datetimes; NaT where pandas cannot represent the time."""
    ms = np.asarray(timestamps, dtype=np.int64)
    shown = ~np.isnan(readable_ms(ms))
    if shown.all():
        return pd.to_datetime(ms, unit="ms", utc=True)
    times = pd.to_datetime(np.where(shown, ms, 0), unit="ms", utc=True)
    return times.where(shown)


def points_frame(
    parts: Sequence[tuple[str, str, FloatPoints | ObjectPoints]],
    *,
    include_time: bool,
    previews: bool,
) -> pd.DataFrame:
    """Wide frame: index (run, step), a column per attribute, or (attribute, field) columns."""
    per_run: dict[str, list[pd.DataFrame]] = {}
    for run, path, cols in parts:
        if len(cols.steps):
            per_run.setdefault(run, []).append(_column(path, cols, include_time, previews))
    frames, keys = [], []
    for run, columns in per_run.items():
        frame = columns[0] if len(columns) == 1 else pd.concat(columns, axis=1).sort_index()
        frames.append(frame)
        keys.append(run)
    if not frames:
        index = pd.MultiIndex.from_arrays([[], []], names=["run", "step"])
        return pd.DataFrame(index=index)
    result = pd.concat(frames, keys=keys, names=["run", "step"])
    if isinstance(result.columns, pd.MultiIndex):
        result = result.sort_index(axis=1, level=0, sort_remaining=False)
    return result


def bucket_frame(tables: Sequence[tuple[str, str, Buckets]]) -> pd.DataFrame:
    """Long frame: one row per (run, attribute, bucket), columns ``BUCKET_COLUMNS``."""
    frames = []
    for run, path, t in tables:
        n = len(t.count)
        frames.append(
            pd.DataFrame(
                {
                    "run": [run] * n,
                    "attribute": [path] * n,
                    "bucket": np.arange(n),
                    "from_step": t.from_step,
                    "to_step": t.to_step,
                    "first_step": t.first_step,
                    "first_value": t.first_value,
                    "last_step": t.last_step,
                    "last_value": t.last_value,
                    "min": t.vmin,
                    "max": t.vmax,
                    "count": t.count,
                    "finite_count": t.finite,
                    "nan_count": t.nan,
                    "positive_inf_count": t.pinf,
                    "negative_inf_count": t.ninf,
                    "sum": t.vsum,
                }
            )
        )
    if not frames:
        return pd.DataFrame({name: [] for name in BUCKET_COLUMNS})
    return pd.concat(frames, ignore_index=True)
