"""Shared by the read commands: where the store is, which project, printing values."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import sys
from typing import Any

from despina._patterns import PatternError, compile_pattern
from despina.query import DELIVER_BUDGET_S, Pending, Reader, deliver_left_behind, local_folder
from despina.store import ProjectNotFound, RunNotFound, StoreNotFound

__all__ = [
    "add_store_option",
    "add_store_options",
    "console",
    "deliver_and_say",
    "find_project_of_run",
    "jsonable",
    "open_reader",
    "regex_argument",
    "store_location",
]

DB_ENV = "DESPINA_DB"
LOG_DIRECTORY_ENV = "NEPTUNE_LOG_DIRECTORY"
PROJECT_ENV = "NEPTUNE_PROJECT"
DEFAULT_LOCATION = ".neptune"


def store_location(explicit: str | None) -> str:
    """``--store``, else $DESPINA_DB, else $NEPTUNE_LOG_DIRECTORY, else ``./.neptune``."""
    return (
        explicit or os.environ.get(DB_ENV) or os.environ.get(LOG_DIRECTORY_ENV) or DEFAULT_LOCATION
    )


def add_store_option(
    parser: argparse.ArgumentParser, *, dest: str = "store", leaf: bool = False
) -> None:
    """``--store`` (alias ``--db``): where the store is, resolved by :func:`store_location`.
    ``leaf``: the option of a sub-command (``token create --store X``) repeating its group's
    (``token --store X create``); it sets nothing when absent, so the group's value stays."""
    parser.add_argument(
        "--store",
        "--db",
        dest=dest,
        default=argparse.SUPPRESS if leaf else None,
        metavar="STORE",
        help=f"store: a folder, sqlite:///FOLDER or postgresql://… (default: ${DB_ENV}, "
        f"else ${LOG_DIRECTORY_ENV}, else {DEFAULT_LOCATION})",
    )


def add_store_options(parser: argparse.ArgumentParser) -> None:
    """``--store`` and ``--project``, as the read commands take them."""
    add_store_option(parser)
    parser.add_argument(
        "--project", default=None, help=f"workspace/project (default: ${PROJECT_ENV}, else all)"
    )


def console(**options: Any) -> Any:
    """A rich ``Console`` whose closed pipe (``| head``) ends the command as any other
    command's does (``main``: quietly, exit 141) instead of rich's own exit 1."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

    return _Console(**options)


def regex_argument(value: str) -> str:
    """An argparse ``type`` for a regex option: one RE2 refuses is a usage error naming it."""
    try:
        compile_pattern(value, "regex")
    except PatternError as error:
        raise argparse.ArgumentTypeError(error.reason) from None
    return value


def open_reader(args: argparse.Namespace) -> Reader:
    """A reader over an existing store; never creates one (StoreNotFound instead). Run logs
    that killed processes left in an embedded store's folder are delivered first (and said)."""
    location = store_location(args.store)
    try:
        reader = Reader(location, deliver_s=0)
    except StoreNotFound as error:
        raise StoreNotFound(
            f"{error}; `despina demo` logs example runs there, or name a store with --store "
            f"or ${DB_ENV}"
        ) from None
    deliver_and_say(location)
    return reader


def deliver_and_say(
    location: str, budget_s: float | None = DELIVER_BUDGET_S, *, say_left: bool = True
) -> Pending | None:
    """Deliver what killed processes left in the embedded store at ``location``; print what was
    done and (``say_left``) what is left, on stderr: stdout may be JSON or a table."""
    folder = local_folder(location)
    if folder is None:
        return None
    pending = deliver_left_behind(folder, budget_s)
    for level, text in pending.messages():
        if say_left or level < logging.WARNING:
            print(f"despina: {text}", file=sys.stderr, flush=True)
    return pending


def chosen_projects(reader: Reader, explicit: str | None) -> list[str]:
    project = explicit or os.environ.get(PROJECT_ENV)
    known = reader.list_projects()
    if project is None:
        return known
    if project not in known:
        raise ProjectNotFound(
            f"no project {project!r} in this store (projects: {', '.join(known) or 'none'})"
        )
    return [project]


def find_project_of_run(reader: Reader, explicit: str | None, run: str) -> str:
    """The one project holding ``run`` (custom id or short id)."""
    projects = chosen_projects(reader, explicit)
    holding = [p for p in projects if run in _ids(reader, p)]
    if not holding:
        where = projects[0] if len(projects) == 1 else f"{len(projects)} projects"
        raise RunNotFound(f"no run {run!r} in {where}")
    if len(holding) > 1:
        raise RunNotFound(f"run {run!r} exists in {', '.join(holding)}; choose one with --project")
    return holding[0]


def _ids(reader: Reader, project: str) -> set[str]:
    table = reader.fetch_runs_table(project, attributes=["sys/id"])
    return set(table.index) | set(table["sys/id"])


def jsonable(value: Any) -> Any:
    """Values of the read API as JSON: datetimes ISO 8601, sets sorted, NaN/inf as strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v) for v in items]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return jsonable(value.item())
    return value


def dumps(value: Any) -> str:
    return json.dumps(jsonable(value), indent=2, ensure_ascii=False)


def short(value: Any, width: int = 40) -> str:
    """One cell of a terminal table."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, dt.datetime):
        plain = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value  # pandas
        text = plain.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, (set, frozenset, list)):
        text = ", ".join(sorted(str(v) for v in value))
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
