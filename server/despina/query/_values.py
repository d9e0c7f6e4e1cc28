"""What a run shows: system attributes, configs, string sets and the last values of series.

Types are reported with neptune-query's Python names (``TYPE_NAMES``). Values are Python
values: datetimes as timezone-aware ``datetime`` (UTC), string sets as ``set``, files as dicts
with ``path``, ``size_bytes`` and ``mime_type``, histograms as dicts with ``type``, ``edges``,
``values``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from despina.query._gc import gc_paused
from despina.store import (
    RunRow,
    Segment,
    SeriesState,
    Tx,
    ancestry,
    decode_value,
    parent_of,
    public_value,
    sys_attributes,
)

__all__ = ["TYPE_NAMES", "RunView", "python_value", "run_view", "run_views"]

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
# json's C scanner (what json.loads runs, shared the same way), without the two whitespace
# regex matches json.loads adds around it: stored values are compact JSON (``encode_value``).
_SCAN_JSON: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # set in __init__, not in typeshed


def _decode(text: str) -> Any:
    """``decode_value`` of a stored value, about 5x faster on the short values of a runs table;
    anything but one whole JSON value goes through ``decode_value`` (and its errors)."""
    try:
        value, end = _SCAN_JSON(text, 0)
    except StopIteration:
        return decode_value(text)
    if end != len(text):
        return decode_value(text)
    return public_value(value) if type(value) is dict else value


def python_value(kind: str, value: Any) -> Any:
    """A decoded stored value (JSON types) as the Python value readers get."""
    if kind == "datetime":
        try:
            return dt.datetime.fromtimestamp(value / 1000, tz=dt.timezone.utc)
        except (OverflowError, ValueError, OSError):
            return None  # outside the years 1..9999: only an older store could hold it
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
    parent = parent_of(tx, run)
    segments = ancestry(tx, run, lineage=lineage)
    states = {s.run.pk: tx.series(s.run.pk) for s in segments}
    names = _project_names(tx)
    return _assemble(tx, run, parent, tx.attributes(run.pk), segments, states, names)


def _project_names(tx: Tx) -> dict[int, str]:
    """Project pk -> name (a handful of rows), for the runs' ``sys/diagnostics`` UUIDs."""
    return {p.pk: p.name for p in tx.projects()}


def run_views(
    tx: Tx,
    rows: Sequence[RunRow],
    known: Mapping[int, RunRow],
    wanted: Callable[[str], bool] | None = None,
) -> list[RunView]:
    """``run_view`` (with lineage) of many runs in a few queries: the attributes and series
    states of all runs and their ancestors are read in one batch each, not per run.

    ``known``: runs already loaded (by pk), so parents need no query of their own.
    ``wanted``: when given, ``values`` holds only the chosen paths; ``types`` and ``series``
    stay complete. Decoding every stored value of 10,000
    runs costs more than reading them, and a table shows only a few columns.
    """
    answers = None if wanted is None else _Answers(wanted)
    with gc_paused():  # hundreds of thousands of objects that all stay alive: see _gc
        by_pk = {**known, **{r.pk: r for r in rows}}
        # Parents are looked up in by_pk first (filled as runs are read), not one query each.
        lineages = [ancestry(tx, r, known=by_pk) for r in rows]
        attributes = tx.attributes_of_runs([r.pk for r in rows])
        lineage_pks = dict.fromkeys(s.run.pk for segments in lineages for s in segments)
        states = tx.series_of_runs(list(lineage_pks))
        names = _project_names(tx)
        return [
            _assemble(
                tx,
                r,
                segments[1].run if len(segments) > 1 else None,
                attributes[r.pk],
                segments,
                states,
                names,
                answers,
            )
            for r, segments in zip(rows, lineages, strict=True)
        ]


class _Answers(dict[str, bool]):
    """``wanted(path)``, asked once per path (10,000 runs share a few dozen paths); later
    answers are a plain dict lookup, which costs far less than a call per path and run."""

    def __init__(self, wanted: Callable[[str], bool]) -> None:
        super().__init__()
        self._wanted = wanted

    def __missing__(self, path: str) -> bool:
        answer = self[path] = bool(self._wanted(path))
        return answer


def _assemble(
    tx: Tx,
    run: RunRow,
    parent: RunRow | None,
    attributes: Mapping[str, tuple[str, str]],
    segments: Sequence[Segment],
    states: Mapping[int, Mapping[str, SeriesState]],
    project_names: Mapping[int, str],
    wanted: Mapping[str, bool] | None = None,
) -> RunView:
    # Runs tables assemble 10,000s of views: the loops below are the per-run cost, so they
    # touch the values of wanted paths only and do no call per path beyond that.
    system = sys_attributes(run, parent, project_names[run.project_pk])
    types = {path: kind for path, (kind, _) in system.items()}
    types.update((path, kind) for path, (kind, _) in attributes.items())
    if wanted is None:
        values = {path: python_value(kind, value) for path, (kind, value) in system.items()}
        for path, (kind, text) in attributes.items():
            values[path] = python_value(kind, _decode(text))
    else:
        values = {
            path: python_value(kind, value)
            for path, (kind, value) in system.items()
            if wanted[path]
        }
        for path, (kind, text) in attributes.items():
            if wanted[path]:
                values[path] = python_value(kind, _decode(text))
    series: dict[str, SeriesState] = {}
    for segment in segments:
        for path, state in states.get(segment.run.pk, {}).items():
            if path in series or types.get(path, state.type) != state.type:
                continue
            if math.isinf(segment.up_to):
                stored = state.last_value
                skip = stored is None or (wanted is not None and not wanted[path])
                last = None if skip or stored is None else _decode(stored)
            else:
                found = _inherited_last(tx, state, segment.up_to)
                if found is None:
                    continue
                last = found[1]
            series[path] = state
            types[path] = state.type
            if wanted is None or wanted[path]:
                values[path] = last
    return RunView(run, parent, values, types, series)
