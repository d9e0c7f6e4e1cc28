"""``despina project create | ls``: projects of the store a server serves."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from despina.cli._common import add_store_option, store_location

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``project`` command group to the ``despina`` argument parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "project",
        help="create or list projects (workspace/project)",
        description="Create or list the projects of a store (workspace/project).",
    )
    add_store_option(parser, dest="db")
    commands = parser.add_subparsers(dest="project_command", required=True)
    create = commands.add_parser(
        "create",
        help="create a project ahead of its first run",
        description="Create a project (workspace/project) ahead of its first run, so tokens "
        "that may not create projects can log to it.",
    )
    add_store_option(create, dest="db", leaf=True)
    create.add_argument("name", help="workspace/project")
    create.set_defaults(func=_create)
    listing = commands.add_parser(
        "ls",
        help="list projects and their short-id keys",
        description="List the projects of the store and the key of their short run ids.",
    )
    add_store_option(listing, dest="db", leaf=True)
    listing.set_defaults(func=_list)


def _create(args: argparse.Namespace) -> int:
    from despina.store import ProjectExists, create_project, open_store

    with open_store(store_location(args.db)) as store:
        try:
            name, key = create_project(store, args.name)
        except ProjectExists as exc:
            print(f"despina project create: {exc}", file=sys.stderr)
            return 1
        except ValueError as exc:
            print(f"despina project create: {exc}", file=sys.stderr)
            return 2
    print(f"created {name} (run ids {key}-1, {key}-2, …)")
    return 0


def _list(args: argparse.Namespace) -> int:
    from despina.store import list_projects, open_store

    with open_store(store_location(args.db), create=False) as store:
        rows = list_projects(store)
    if not rows:
        print("no projects yet; `despina project create workspace/project` makes one")
    for name, key in rows:
        print(f"{name:<40} {key}")
    return 0
