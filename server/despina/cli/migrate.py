"""``despina migrate``: upgrade a PostgreSQL store's schema, once per deployment.

Servers on PostgreSQL refuse to start on an older schema (the message names this command), so
that several processes never rewrite a shared database each on their own. The embedded SQLite
store upgrades itself on open; for it this command only opens it.
"""

from __future__ import annotations

import argparse
from typing import Any

from despina.cli._common import add_store_option, store_location

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``migrate`` command to the ``despina`` argument parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "migrate",
        help="upgrade the store's schema (PostgreSQL: once per deployment, before the servers)",
        description="Upgrade the schema of a store to the one this despina uses. Run it once "
        "per PostgreSQL deployment after upgrading despina, then start the servers.",
    )
    add_store_option(parser, dest="db")
    parser.set_defaults(func=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    from despina.store import open_store

    location = store_location(args.db)
    with open_store(location, create=True, migrate=True) as store:
        where = getattr(store.engine, "description", location)
    print(f"despina migrate: the store {where} is at the current schema")
    return 0
