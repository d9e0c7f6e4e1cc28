"""``despina sync PATH``: deliver runs kept on disk (offline runs, interrupted processes).

Our client's run folders go through ``neptune sync`` (one implementation, in the client:
``neptune_scale.cli``). A folder or file from the *official* client (``run_operations.sqlite3``,
protocol §6.2) is first copied into a run folder of ours and then delivered the same way.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "run_sync"]


def register(subparsers: Any) -> None:
    """Add the ``sync`` command to the ``despina`` argument parser."""
    from neptune_scale.cli import add_skip_damaged

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sync",
        help="upload runs kept on disk (offline mode, interrupted runs) with a progress bar",
        description="Deliver the operations of run folders (ours or the official client's "
        "run_operations.sqlite3) to the server in the API token, or to the embedded store.",
    )
    parser.add_argument("path", type=Path, help="a run folder, a log directory or a .sqlite3 file")
    parser.add_argument(
        "--api-token", default=None, help="send to this server (default: $NEPTUNE_API_TOKEN)"
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds to wait per run (default no limit)"
    )
    add_skip_damaged(parser)
    parser.set_defaults(func=run_sync)


def run_sync(args: argparse.Namespace) -> int:
    from neptune_scale import cli

    from despina.cli._official_sync import find_official_databases

    path: Path = args.path
    if not path.exists():
        print(f"despina sync: {path} does not exist", file=sys.stderr)
        return 2
    extra = ["--api-token", args.api_token] if args.api_token else []
    extra += ["--timeout", str(args.timeout)] if args.timeout is not None else []
    extra += ["--skip-damaged"] if args.skip_damaged else []
    official = find_official_databases(path)
    if not official:
        return cli.main(["sync", str(path), *extra], prog="despina")
    status = _sync_official(official, args.api_token, extra)
    if _has_our_runs(path):  # one .neptune folder can hold runs of both clients
        status = status or cli.main(["sync", str(path), *extra], prog="despina")
    return status


def _has_our_runs(path: Path) -> bool:
    from neptune_scale.sync import find_run_folders

    try:
        return path.is_dir() and bool(find_run_folders(path))
    except OSError:
        return False


def _sync_official(databases: list[Path], api_token: str | None, extra: list[str]) -> int:
    from neptune_scale import cli

    from despina.cli._official_sync import convert_official, mark_delivered

    if not (api_token or os.environ.get("NEPTUNE_API_TOKEN")):
        print(
            "despina sync: runs of the official client go to a server: pass --api-token or set "
            "NEPTUNE_API_TOKEN",
            file=sys.stderr,
        )
        return 2
    status = 0
    for database in databases:
        try:
            folder = convert_official(database)
        except OSError as error:  # e.g. a full disk: the official database stays as it was
            print(f"despina sync: {database}: {error}", file=sys.stderr)
            status = 1
            continue
        if folder is None:  # nothing left to deliver
            continue
        code = cli.main(["sync", str(folder), *extra], prog="despina")
        if code == 0:
            mark_delivered(database, folder)
        status = status or code
    return status
