"""``despina backup DEST``: a consistent copy of an embedded (SQLite) store while it is in use.

Each database file (``despina.sqlite3``, and ``server.sqlite3`` when a server runs on the folder)
is copied with SQLite's online backup API, which gives a consistent snapshot while runs and
servers keep writing; then the ``files/`` folder is copied (a file written after the snapshot
may be copied too: harmless, nothing in the snapshot points at it). Restoring is pointing
``--store`` at DEST. A PostgreSQL store is backed up with ``pg_dump`` and its bucket or files
folder with the store's own tools (README, "A team server").
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

from despina.cli._common import add_store_option, store_location

__all__ = ["register"]

DATABASE_FILES = ("despina.sqlite3", "server.sqlite3")
FILES_FOLDER = "files"
PAGES_PER_STEP = 4096  # copy in steps, letting writers in between (SQLite's backup API)


def register(subparsers: Any) -> None:
    """Add the ``backup`` command to the ``despina`` argument parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "backup",
        help="copy an embedded store (SQLite) consistently, while it is in use",
        description="Copy an embedded store into DEST (a new or empty folder) with SQLite's "
        "online backup, then its files. Restore by using DEST as the store.",
    )
    add_store_option(parser)
    parser.add_argument("destination", metavar="DEST", help="a new or empty folder")
    parser.set_defaults(func=_backup)


def _backup(args: argparse.Namespace) -> int:
    location = store_location(args.store)
    if location.startswith(("postgresql://", "postgres://")):
        print(
            "despina backup: a PostgreSQL store is backed up with pg_dump (and its bucket or "
            "files folder with the storage's own tools); see README, 'A team server'",
            file=sys.stderr,
        )
        return 1
    source = Path(location.removeprefix("sqlite://")).expanduser()
    target = Path(args.destination).expanduser()
    if not (source / DATABASE_FILES[0]).is_file():
        print(f"despina backup: no despina store at {source}", file=sys.stderr)
        return 1
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        print(f"despina backup: {target} must be a new or empty folder", file=sys.stderr)
        return 1
    target.mkdir(parents=True, exist_ok=True)
    for name in DATABASE_FILES:
        if (source / name).is_file():
            _copy_database(source / name, target / name)
    if (source / FILES_FOLDER).is_dir():
        shutil.copytree(source / FILES_FOLDER, target / FILES_FOLDER)
    print(f"despina backup: {source} copied to {target}")
    return 0


def _copy_database(source: Path, target: Path) -> None:
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as out:
        src.backup(out, pages=PAGES_PER_STEP)
