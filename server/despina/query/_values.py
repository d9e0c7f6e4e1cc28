"""What a run shows: system attributes, configs, string sets and the last values of series.

Types are reported with neptune-query's Python names (``TYPE_NAMES``). Values are Python
values: datetimes as timezone-aware ``datetime`` (UTC), string sets as ``set``, files as dicts
with ``path``, ``size_bytes`` and ``mime_type``, histograms as dicts with ``type``, ``edges``,
``values``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from despina.store import RunRow, SeriesState, Tx, ancestry, decode_value, sys_attributes

__all__ = ["TYPE_NAMES", "RunView", "python_value", "run_view"]

TYPE_NAMES = {
    "float": "float",
    "int": "int",
    "bool": "bool",
    "string": "string",
    "datetime": "datetime",
    "stringSet": "string_set",
    "fileRef": "file",
    "floatSeries": "float_series",
    "stringSeries": "string_series",
    "histogramSeries": "histogram_series",
    "fileRefSeries": "file_series",
}


def python_value(kind: str, value: Any) -> Any:
    """A decoded stored value (JSON types) as the Python value readers get."""
    if kind == "datetime":
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.timezone.utc)
    if kind == "stringSet":
        return set(value)
    return value


@dataclass
class RunView:
    """One run as readers see it. ``series`` includes series inherited through lineage."""

    run: RunRow
    parent: RunRow | None
    values: dict[str, Any]  # path -> python value (series: last value)
    types: dict[str, str]  # path -> stored type name
    series: dict[str, SeriesState]  # own and inherited, the nearest run's state per path


def _inherited_last(tx: Tx, state: SeriesState, up_to: float) -> tuple[float, Any] | None:
    """The last point of an ancestor's series at or before the fork step."""
    if state.last_step is not None and state.last_step <= up_to and state.last_value is not None:
        return state.last_step, decode_value(state.last_value)
    if state.pk is None:
        return None
    if state.type == "floatSeries":
        for chunk in reversed(tx.chunks(state.pk, None, up_to, timestamps=False)):
            steps, values = np.frombuffer(chunk.steps), np.frombuffer(chunk.values)
            i = int(np.searchsorted(steps, up_to, side="right")) - 1
            if i >= 0:
                return float(steps[i]), float(values[i])
        return None
    found = tx.points(state.pk, None, up_to, limit=1, descending=True)
    return (found[0].step, decode_value(found[0].value)) if found else None


def run_view(tx: Tx, run: RunRow, *, lineage: bool = True) -> RunView:
    parent = tx.run_by_pk(run.parent_pk) if run.parent_pk is not None else None
    values: dict[str, Any] = {}
    types: dict[str, str] = {}
    for path, (kind, value) in sys_attributes(run, parent).items():
        types[path] = kind
        values[path] = python_value(kind, value)
    for path, (kind, text) in tx.attributes(run.pk).items():
        types[path] = kind
        values[path] = python_value(kind, decode_value(text))
    series: dict[str, SeriesState] = {}
    for segment in ancestry(tx, run, lineage=lineage):
        for path, state in tx.series(segment.run.pk).items():
            if path in series or types.get(path, state.type) != state.type:
                continue
            if math.isinf(segment.up_to):
                last = None if state.last_value is None else decode_value(state.last_value)
            else:
                found = _inherited_last(tx, state, segment.up_to)
                if found is None:
                    continue
                last = found[1]
            series[path] = state
            types[path] = state.type
            values[path] = last
    return RunView(run, parent, values, types, series)
