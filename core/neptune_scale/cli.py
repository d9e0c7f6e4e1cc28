"""The ``neptune`` command: ``neptune sync PATH`` delivers runs left on disk."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def main(argv: Sequence[str] | None = None, prog: str = "neptune") -> int:
    """``prog``: the program name messages start with (``despina sync`` runs this one)."""
    parser = argparse.ArgumentParser(prog=prog, description="Neptune Scale client tools")
    parser.add_argument("--version", action="version", version=_version(prog))
    commands = parser.add_subparsers(dest="command", required=True)
    sync = commands.add_parser(
        "sync",
        help="deliver operations kept on disk (offline runs, interrupted or killed processes)",
    )
    sync.add_argument(
        "path", type=Path, help="a run folder (<log_directory>/runs/<run>) or a log directory"
    )
    sync.add_argument(
        "--api-token",
        default=None,
        help="send to this server (default: $NEPTUNE_API_TOKEN; none: the "
        "embedded store of the log directory)",
    )
    sync.add_argument(
        "--timeout", type=float, default=None, help="seconds to wait per run (default no limit)"
    )
    add_skip_damaged(sync)
    args = parser.parse_args(argv)
    return _sync(args.path, args.api_token, args.timeout, args.skip_damaged, prog)


def add_skip_damaged(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skip-damaged",
        action="store_true",
        help="accept the loss of damaged records: the intact ones are delivered either way, "
        "and with this the run folder is then removed and the exit status is 0 (without it the "
        "folder is kept and the status is 1)",
    )


def _version(prog: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:  # this client ships in the despina distribution
        return f"{prog} {version('despina')}"
    except PackageNotFoundError:
        return f"{prog} (not installed)"


def _sync(
    path: Path, api_token: str | None, timeout: float | None, skip_damaged: bool, prog: str
) -> int:
    from neptune_scale._oplog import damage as _damage
    from neptune_scale._sync import find_run_folders, sync_run

    if not path.exists():
        print(f"{prog} sync: {path} does not exist", file=sys.stderr)
        return 2
    folders = find_run_folders(path)
    if not folders:
        # Nothing left to deliver is the normal end of a sync, not a failure.
        print(f"{prog} sync: nothing to sync (no run folders under {path})", file=sys.stderr)
        return 0
    failed = 0
    for folder in folders:
        known = _damage.read(folder)
        try:
            ok = sync_run(folder, api_token=api_token, timeout=timeout, skip_damaged=skip_damaged)
        except (RuntimeError, ValueError, OSError) as e:
            print(f"{prog} sync: {folder}: {e}", file=sys.stderr)
            ok = False
        # What recovery found was reported as it was found (the neptune logger); this is the
        # summary of every loss recorded in the folder, also ones found by an earlier sync.
        lost = _damage.read(folder) if folder.exists() else []
        if lost:
            print(f"{prog} sync: {_damage.message(folder, [], lost)}", file=sys.stderr)
        elif known and not folder.exists():
            print(
                f"{prog} sync: {folder}: the loss of the damaged records was accepted "
                "(--skip-damaged); the folder is removed",
                file=sys.stderr,
            )
        if not ok:
            failed += 1
            what = "holds damaged records" if lost else "was not fully delivered"
            print(f"{prog} sync: {folder} {what}; it stays on disk", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
