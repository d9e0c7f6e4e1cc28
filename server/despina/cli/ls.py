"""``despina ls``: the runs of a store as a table (or JSON)."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import pandas as pd

from despina.cli._common import (
    add_store_options,
    chosen_projects,
    console,
    dumps,
    open_reader,
    regex_argument,
    short,
)

__all__ = ["register"]

SYS_COLUMNS = {
    "sys/id": "id",
    "sys/name": "experiment",
    "sys/creation_time": "created",
    "sys/forking/parent": "forked from@step",
    "sys/forking/step": "fork step",
    "sys/tags": "tags",
}
DEFAULT_METRIC_COLUMNS = 4  # last values of this many float series, when none are asked for


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "ls",
        help="list runs: ids, experiments, lineage, tags and last metric values",
        description="List the runs of a store: ids, experiments, lineage, tags and the last "
        "values of a few metrics (--columns chooses them). A table on a terminal, --json for "
        "scripts.",
    )
    add_store_options(parser)
    parser.add_argument(
        "--columns",
        default=None,
        type=regex_argument,
        metavar="REGEX",
        help=f"attributes to show as columns (a regular expression; default the first "
        f"{DEFAULT_METRIC_COLUMNS} metrics)",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="show at most N runs per project (default all)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def _rows(
    reader: Any, project: str, columns: str | None, limit: int | None
) -> list[dict[str, Any]]:
    types = reader.attribute_types(project)
    if columns is None:
        metrics = sorted(n for n, t in types.items() if t == "float_series")[
            :DEFAULT_METRIC_COLUMNS
        ]
    else:
        metrics = [
            n for n in reader.attribute_types(project, attributes=columns) if n not in SYS_COLUMNS
        ]
    table = reader.fetch_runs_table(project, attributes=[*SYS_COLUMNS, *metrics], limit=limit)
    rows = []
    for run_id, values in table.iterrows():
        row = {"project": project, "run": run_id}
        row.update({name: _present(values[name]) for name in [*SYS_COLUMNS, *metrics]})
        rows.append(row)
    return rows


def _present(value: Any) -> Any:
    """None for the table's missing-value markers (NaN, NaT)."""
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    return None if missing or value is pd.NaT else value


def run(args: argparse.Namespace) -> int:
    with open_reader(args) as reader:
        rows = []
        for project in chosen_projects(reader, args.project):
            rows.extend(_rows(reader, project, args.columns, args.limit))
    if args.json:
        print(dumps(rows))
        return 0
    if not rows:
        print("no runs yet", file=sys.stderr)
        return 0
    _print_table(rows)
    return 0


PIPED_WIDTH = 10_000  # characters; a table only takes the width its cells need


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    shown = [name for name in dict.fromkeys(k for row in rows for k in row)]
    if len({row["project"] for row in rows}) == 1:
        shown.remove("project")
    shown = [n for n in shown if n not in ("sys/forking/step",)]
    table = Table(box=None, header_style="bold")
    for name in shown:
        # One line per run: a narrow terminal cuts cells short instead of folding them.
        table.add_column(SYS_COLUMNS.get(name, name), no_wrap=True, overflow="ellipsis")
    for row in rows:
        cells = []
        for name in shown:
            value = row.get(name)
            if name == "sys/forking/parent" and value is not None:
                value = f"{value}@{short(row.get('sys/forking/step'))}"
            cells.append(short(value))
        table.add_row(*cells)
    out = console()
    if not out.is_terminal:  # piped or redirected: whole rows, whatever the width
        out = console(width=PIPED_WIDTH)
    out.print(table)
