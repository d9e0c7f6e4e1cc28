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
        "export",
        help="export a run's metrics (lineage included) as CSV or Parquet",
        description="Export a run's metrics as CSV or Parquet, one row per step and a column "
        "per metric (and its timestamp); a forked run includes its ancestors' points up to the "
        "fork unless --no-lineage.",
    )
    parser.add_argument("run", help="custom run id or short id")
    add_store_options(parser)
    parser.add_argument(
        "--format", choices=FORMATS, default="csv", help="file format (default csv)"
    )
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
        help="metrics to export (a regular expression matched against their names; default all)",
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
    if not len(frame.columns):
        print(f"despina export: {_nothing_matched(args, details)}", file=sys.stderr)
        return 1
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


SHOWN_METRICS = 12  # names listed when nothing matched; `despina show` lists them all


def _nothing_matched(args: argparse.Namespace, details: dict[str, Any]) -> str:
    """Why no file was written: the run's metrics (or that it has none), and where to see them."""
    run = args.run
    metrics = sorted(p for p, s in details["series"].items() if s["type"] == "float_series")
    if not metrics:
        return f"run {run!r} has no metrics to export; no file written"
    listed = ", ".join(metrics[:SHOWN_METRICS]) + (", …" if len(metrics) > SHOWN_METRICS else "")
    return (
        f"no metric of run {run!r} matches --attributes {args.attributes!r}; no file written. "
        f"Its metrics: {listed} (all its attributes: `despina show {run}`)"
    )
