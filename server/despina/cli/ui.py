"""``despina ui``: the web UI over a store (by default the embedded one), served by uvicorn."""

from __future__ import annotations

import argparse
import importlib.util
from typing import Any

from despina.cli._common import DB_ENV, DEFAULT_LOCATION, LOG_DIRECTORY_ENV, store_location

__all__ = ["DEFAULT_UI_HOST", "DEFAULT_UI_PORT", "register", "run_ui"]

DEFAULT_UI_HOST = "127.0.0.1"  # loopback: the UI has no login, whoever reaches it reads all
DEFAULT_UI_PORT = 8765

# Without the server extra this command is not offered (the CLI skips modules that fail to import).
for _module in ("fastapi", "uvicorn", "jinja2"):
    if importlib.util.find_spec(_module) is None:
        raise ImportError(f"`despina ui` needs the server extra ({_module} is missing)")


def register(subparsers: Any) -> None:
    """Add the ``ui`` command to the ``despina`` argument parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "ui",
        help="browse runs in the web UI (runs table, charts, comparison)",
        description="Serve the web UI over a store: the embedded one in .neptune by default.",
    )
    parser.add_argument(
        "--store",
        "--db",
        dest="store",
        default=None,
        help=f"store: a folder, sqlite:///FOLDER or postgresql://… (default: ${DB_ENV}, "
        f"else ${LOG_DIRECTORY_ENV}, else {DEFAULT_LOCATION})",
    )
    parser.add_argument("--host", default=DEFAULT_UI_HOST, help=f"address ({DEFAULT_UI_HOST})")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_UI_PORT, help=f"port ({DEFAULT_UI_PORT})"
    )
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning"])
    parser.set_defaults(func=run_ui)


def run_ui(args: argparse.Namespace) -> int:
    import uvicorn

    from despina.store import open_store
    from despina.ui import create_app

    location = store_location(args.store)
    # An existing store only: a typo in --store says so instead of serving an empty new one.
    with open_store(location, create=False) as store:
        print(f"despina ui: store {location}, open http://{args.host}:{args.port}/", flush=True)
        uvicorn.run(create_app(store), host=args.host, port=args.port, log_level=args.log_level)
    return 0
