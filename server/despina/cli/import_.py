"""``despina import DATA``: runs exported by neptune-exporter, into a store or a server.

The module is ``import_`` (``import`` is a keyword); ``despina.cli`` names the command
``import``. pyarrow is imported only when the command runs, so without the ``parquet`` extra
the command still exists and says what to install.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from despina.cli._common import add_store_option, console, regex_argument, store_location

__all__ = ["register"]

EXTRA_HINT = "despina import needs pyarrow: pip install 'despina[parquet]'"


def _mapping(value: str) -> tuple[str, str]:
    old, sep, new = value.partition("=")
    if not sep or not old or not new:
        raise argparse.ArgumentTypeError(
            f"expected OLD=NEW (two workspace/project names), got {value!r}"
        )
    return old, new


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "import",
        help="import a neptune-exporter export (parquet + files) into a store or a server",
        description="Import the runs of a neptune-exporter export: every attribute type with "
        "its type, decimal steps, forks as forks (parents first), files with --files. Runs "
        "already imported into the same target are skipped; a second import adds nothing.",
    )
    parser.add_argument(
        "data",
        type=Path,
        metavar="DATA_PATH",
        help="the export's data folder (or one project folder in it)",
    )
    parser.add_argument(
        "--files",
        type=Path,
        default=None,
        metavar="FILES_PATH",
        help="the export's files folder (without it, file values are reported as skipped)",
    )
    add_store_option(parser)
    parser.add_argument(
        "--url", default=None, help="a despina server's address (default: the one in the API token)"
    )
    parser.add_argument(
        "--api-token",
        default=None,
        help="send to a server with this token (default with --url: $NEPTUNE_API_TOKEN)",
    )
    parser.add_argument(
        "--project-map",
        action="append",
        type=_mapping,
        default=[],
        metavar="OLD=NEW",
        help="import project OLD as NEW (repeatable)",
    )
    parser.add_argument(
        "--runs",
        type=regex_argument,
        default=None,
        metavar="REGEX",
        help="only runs whose id matches this regular expression",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be imported; write nothing"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        print(EXTRA_HINT, file=sys.stderr)
        return 1
    from despina._patterns import compile_pattern
    from despina.importer import ImportOptions, run_import

    problem = _check(args)
    if problem:
        print(f"despina import: error: {problem}", file=sys.stderr)
        return 2
    options = ImportOptions(
        data=args.data,
        files=args.files,
        project_map=dict(args.project_map),
        runs=compile_pattern(args.runs, "--runs") if args.runs else None,
        dry_run=args.dry_run,
    )
    target = None if args.dry_run else _target(args)
    out = console(stderr=False)
    try:
        with _Bar(disabled=args.no_progress or args.dry_run) as bar:
            summary = run_import(options, target, bar)
    finally:
        if target is not None:
            target.close()
    summary.render(out)
    return 0 if summary.ok else 1


def _check(args: argparse.Namespace) -> str | None:
    if not args.data.is_dir():
        return f"DATA_PATH {args.data} is not a folder"
    if args.files is not None and not args.files.is_dir():
        return f"--files {args.files} is not a folder"
    remote = args.url is not None or args.api_token is not None
    if remote and args.store is not None:
        return "--store and --url/--api-token name two targets; give one"
    token = args.api_token or os.environ.get("NEPTUNE_API_TOKEN")
    if args.url is not None and not token:
        return "--url needs --api-token (or $NEPTUNE_API_TOKEN)"
    if remote and token:
        from neptune_scale.token import InvalidApiTokenError, parse_api_token

        try:
            parse_api_token(token)
        except InvalidApiTokenError as error:
            return f"--api-token: {error}"
    return None


def _target(args: argparse.Namespace) -> Any:
    from despina.importer import http_target, store_target

    if args.url is not None or args.api_token is not None:
        token = args.api_token or os.environ.get("NEPTUNE_API_TOKEN", "")
        return http_target(token, args.url)
    return store_target(store_location(args.store))


class _Bar:
    """A rich progress bar on stderr: runs, points, file bytes."""

    def __init__(self, *, disabled: bool) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console(stderr=True),
            disable=disabled,
            transient=False,
        )
        self.runs: Any = None  # rich task ids, once planned
        self.points: Any = None
        self.bytes: Any = None

    def __enter__(self) -> _Bar:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def planned(self, runs: int, points: int, file_rows: int) -> None:
        self.runs = self.progress.add_task("runs", total=runs)
        self.points = self.progress.add_task("points", total=points)
        self.bytes = self.progress.add_task("file bytes", total=None)

    def advance(self, points: int = 0, file_bytes: int = 0) -> None:
        if self.points is not None and points:
            self.progress.advance(self.points, points)
        if self.bytes is not None and file_bytes:
            self.progress.advance(self.bytes, file_bytes)

    def run_done(self, label: str) -> None:
        if self.runs is not None:
            self.progress.advance(self.runs, 1)
