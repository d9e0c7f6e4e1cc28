"""One page of the runs table: filtered, sorted and cut on the server, so the browser only ever
draws ``limit`` rows however many runs the project holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from despina.ui._filters import apply_filter, filter_attributes, parse_filter
from despina.ui._source import UiSource
from despina.ui._values import json_value

__all__ = ["FIXED_COLUMNS", "MAX_COLUMNS", "MAX_PAGE_ROWS", "RunsQuery", "runs_page"]

RUN_ID = "sys/custom_run_id"
EXPERIMENT = "sys/name"
CREATED = "sys/creation_time"
TAGS = "sys/tags"
FIXED_COLUMNS = (RUN_ID, EXPERIMENT, CREATED, TAGS)
MAX_PAGE_ROWS = 500
MAX_COLUMNS = 100


@dataclass(frozen=True)
class RunsQuery:
    project: str
    filter: str
    columns: list[str]
    sort: str
    descending: bool
    offset: int
    limit: int


def runs_page(source: UiSource, query: RunsQuery) -> dict[str, Any]:
    """The JSON of one page; raises `FilterError` for a filter it cannot read."""
    conditions = parse_filter(query.filter)
    needed = list(dict.fromkeys([*FIXED_COLUMNS, *query.columns, query.sort]))
    needed += sorted(filter_attributes(conditions) - set(needed))
    table = source.runs_table(query.project, needed)  # shared (cached): filter into copies
    total = len(table)
    table = apply_filter(table, conditions)
    table = _sorted(table, query.sort, query.descending)
    page = table.iloc[query.offset : query.offset + query.limit]
    return {
        "project": query.project,
        "total": total,
        "matched": len(table),
        "offset": query.offset,
        "limit": query.limit,
        "columns": query.columns,
        "rows": [_row(record, query.columns) for record in page.to_dict("records")],
    }


def _row(record: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    tags = record.get(TAGS)
    return {
        "run": record[RUN_ID],
        "experiment": json_value(record.get(EXPERIMENT)),
        "created": json_value(record.get(CREATED)),
        "tags": sorted(tags) if isinstance(tags, set | frozenset | list | tuple) else [],
        "values": {column: json_value(record.get(column)) for column in columns},
    }


def _sorted(table: pd.DataFrame, column: str, descending: bool) -> pd.DataFrame:
    """Sorted by ``column``; runs without a value go last whatever the direction."""
    if column not in table or table.empty:
        return table
    values = table[column]
    if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values)):
        # Mixed or odd types (sets, text next to numbers) sort by their text.
        values = values.map(lambda v: None if _missing(v) else _text(v))
    order = values.sort_values(ascending=not descending, na_position="last", kind="stable")
    return table.loc[order.index]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _text(value: Any) -> str:
    if isinstance(value, set | frozenset):
        return ",".join(sorted(str(v) for v in value))
    return str(value)
