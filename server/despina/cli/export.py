"""``despina export RUN``: a run's metrics as CSV or Parquet (one row per step)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from despina.cli._common import (
    add_store_options,
    find_project_of_run,
    open_reader,
    regex_argument,
)

__all__ = ["register"]

FORMATS = ("csv", "parquet")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "export", help="export a run's metrics (lineage included) as CSV or Parquet"
    )
    parser.add_argument("run", help="custom run id or short id")
    add_store_options(parser)
    parser.add_argument("--format", choices=FORMATS, default="csv")
    parser.add_argument(
        "--output",
        "-o",
        default=None,
        help="file to write (default: <run>.<format>; '-' = stdout for CSV)",
    )
    parser.add_argument(
        "--attributes",
        default=None,
        type=regex_argument,
        metavar="REGEX",
        help="metrics to export (a regular expression; default all)",
    )
    parser.add_argument(
        "--no-lineage",
        action="store_true",
        help="only the run's own points, not its ancestors' up to the fork",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.format == "parquet":
        try:
            import pyarrow  # noqa: F401  # pandas needs it for Parquet
        except ImportError:
            print(
                "despina export: Parquet needs pyarrow: pip install 'despina[parquet]'",
                file=sys.stderr,
            )
            return 1
    with open_reader(args) as reader:
        project = find_project_of_run(reader, args.project, args.run)
        details = reader.run_details(project, args.run)
        frame = reader.fetch_metrics(
            project,
            [details["run_id"]],
            args.attributes,
            lineage_to_the_root=not args.no_lineage,
            include_time="absolute",
        )
    frame = frame.droplevel("run") if len(frame) else frame
    if len(frame.columns):
        frame.columns = [
            f"{a}" if field == "value" else f"{a}:{field}" for a, field in frame.columns
        ]
    target = args.output or f"{details['run_id'].replace('/', '_')}.{args.format}"
    if args.format == "csv":
        frame.to_csv(sys.stdout if target == "-" else target)
    else:
        frame.to_parquet(target)
    if target != "-":
        print(
            f"wrote {len(frame)} steps × {len(frame.columns)} columns to {Path(target)}",
            file=sys.stderr,
        )
    return 0
