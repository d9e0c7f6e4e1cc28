"""``despina show RUN``: one run's configs, tags, last values and lineage."""

from __future__ import annotations

import argparse
from typing import Any

from despina.cli._common import (
    add_store_options,
    dumps,
    find_project_of_run,
    open_reader,
    short,
)
from despina.cli._common import console as rich_console

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "show",
        help="show one run: configs, tags, last values, lineage",
        description="Show one run: its configs, tags, the last value of each series and its "
        "lineage (the run it was forked from, its children).",
    )
    parser.add_argument("run", help="custom run id or short id (e.g. PROJ-3)")
    add_store_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def _section(console: Any, title: str, items: dict[str, Any]) -> None:
    from rich.table import Table

    if not items:
        return
    table = Table(
        title=title, title_justify="left", title_style="bold", box=None, show_header=False
    )
    table.add_column("name", style="cyan")
    table.add_column("value", overflow="fold")
    for name, value in items.items():
        table.add_row(name, short(value, 80))
    console.print(table)


def run(args: argparse.Namespace) -> int:
    with open_reader(args) as reader:
        project = find_project_of_run(reader, args.project, args.run)
        details = reader.run_details(project, args.run)
    if args.json:
        print(dumps(details))
        return 0
    console = rich_console()
    lineage = details["lineage"]
    header = {
        "project": details["project"],
        "run": f"{details['run_id']} ({details['sys_id']})",
        "experiment": details["experiment"],
        "created": details["creation_time"],
        "tags": details["tags"],
        "group tags": details["group_tags"],
        "forked from": f"{lineage['parent']} at step {lineage['fork_step']:g}"
        if lineage["parent"]
        else None,
        "ancestors": lineage["ancestors"],
        "children": lineage["children"],
    }
    _section(console, "Run", {k: v for k, v in header.items() if v not in (None, [])})
    _section(console, "Configs", details["configs"])
    last = {
        f"{path}{' (inherited)' if s['inherited'] else ''}": s["last"]
        for path, s in details["series"].items()
    }
    _section(console, "Last values", last)
    return 0
