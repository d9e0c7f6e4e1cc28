"""``despina compact``: rewrite float chunks stored by an older despina in the compact form."""

from __future__ import annotations

import argparse
from typing import Any

from despina.cli._common import add_store_option, console, store_location

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "compact",
        help="shrink a store written by an older despina (float series stored compactly)",
        description="Rewrite the float-series chunks an older despina stored uncompressed "
        "(8 bytes per step, value and timestamp) in the compact lossless form new data gets, "
        "then shrink the SQLite file. Safe while a server or training runs write to the store "
        "(short transactions); running it again finds nothing to do. SQLite needs free disk "
        "space for a copy of the database while it shrinks the file.",
    )
    add_store_option(parser)
    parser.add_argument(
        "--no-reclaim",
        dest="reclaim",
        action="store_false",
        help="rewrite the chunks but do not shrink the SQLite file (VACUUM) afterwards",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from despina.store import open_store

    out = console()
    bar = Progress(console=console(stderr=True), transient=True)
    with open_store(store_location(args.store), create=False) as store, bar:
        task = bar.add_task("compacting float chunks", total=None)
        report = store.compact(progress=lambda n: bar.advance(task, n), reclaim=args.reclaim)
    if not report.chunks:
        out.print("nothing to compact: every float chunk is already stored compactly")
        return 0
    ratio = report.bytes_before / max(report.bytes_after, 1)
    out.print(
        f"compacted {report.chunks:,} float chunks: {_mb(report.bytes_before)} → "
        f"{_mb(report.bytes_after)} of series data ({ratio:.1f}× smaller)"
        + ("; the database file was shrunk" if report.reclaimed else "")
    )
    return 0


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"
