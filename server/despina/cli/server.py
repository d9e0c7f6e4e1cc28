"""``despina server``: the Neptune Scale-compatible server on uvicorn."""

from __future__ import annotations

import argparse
import copy
import importlib.util
import ipaddress
from typing import Any

from despina.cli._common import DB_ENV, store_location

__all__ = ["register", "run_server"]

# Without the server extra this command is not offered (the CLI skips modules that fail to import).
for _module in ("fastapi", "uvicorn", "jwt"):
    if importlib.util.find_spec(_module) is None:
        raise ImportError(f"`despina server` needs the server extra ({_module} is missing)")


def register(subparsers: Any) -> None:
    """Add the ``server`` command to the ``despina`` argument parser."""
    from despina.api import DEFAULT_HOST, DEFAULT_PORT

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "server",
        help="serve the Neptune Scale protocol (official clients and ours log here)",
        description="Serve the Neptune Scale wire protocol over HTTP. Create API tokens for it "
        "with `despina token create`.",
    )
    parser.add_argument(
        "--db",
        "--store",
        dest="db",
        default=None,
        help="store: a folder, sqlite:///FOLDER or postgresql://… "
        f"(default: ${DB_ENV}, else $NEPTUNE_LOG_DIRECTORY, else .neptune)",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT})")
    parser.add_argument(
        "--public-url",
        default=None,
        help="base URL clients reach this server at, e.g. behind a proxy (default: per request)",
    )
    parser.add_argument(
        "--ui",
        choices=["auto", "on", "off"],
        default="auto",
        help="serve the web UI too (auto: only when listening on a loopback address, because "
        "the UI has no login yet and shows every project to whoever reaches it)",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    parser.set_defaults(func=run_server)


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging setup with every handler behind the secret-redacting filter."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": "despina.api.RedactSecrets"}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
    config["loggers"]["despina"] = {"handlers": ["default"], "level": level.upper()}
    return config


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def run_server(args: argparse.Namespace) -> int:
    import uvicorn

    from despina.api import ServerSettings, create_app

    ui = args.ui == "on" or (args.ui == "auto" and _is_loopback(args.host))
    settings = ServerSettings(db=store_location(args.db), public_url=args.public_url, ui=ui)
    app = create_app(settings)
    print(f"despina server: store {settings.db}, listening on http://{args.host}:{args.port}")
    if ui:
        url = f"http://{args.host}:{args.port}/"
        print(f"despina server: web UI at {url} (it has no login: keep it private)")
    else:
        print("despina server: web UI off (--ui on serves it; it has no login yet)")
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=log_config(args.log_level),
        log_level=args.log_level,
        # Bodies above the ingest limit are refused by the app itself (413); uvicorn's own
        # limits stay at their defaults.
    )
    return 0
