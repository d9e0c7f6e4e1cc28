"""``despina server``: the Neptune Scale-compatible server on uvicorn."""

from __future__ import annotations

import argparse
import copy
import importlib.util
import sys
from typing import Any

from despina.cli._common import add_store_option, store_location
from despina.cli._serve import add_log_level_option, bind, listening_port, port_argument, serve

__all__ = ["register", "run_server"]

SHUTDOWN_TIMEOUT_S = 30.0

# Without the server extra this command is not offered (the CLI skips modules that fail to import).
for _module in ("fastapi", "uvicorn", "jwt"):
    if importlib.util.find_spec(_module) is None:
        raise ImportError(f"`despina server` needs the server extra ({_module} is missing)")


def register(subparsers: Any) -> None:
    """Add the ``server`` command to the ``despina`` argument parser."""
    from despina.api import DEFAULT_HOST, DEFAULT_PORT, UI_SESSION_RECHECK_S

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "server",
        help="serve the Neptune Scale protocol (official clients and ours log here)",
        description="Serve the Neptune Scale wire protocol over HTTP. Create API tokens for it "
        "with `despina token create`.",
    )
    add_store_option(parser, dest="db")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address (default {DEFAULT_HOST})")
    parser.add_argument(
        "--port",
        type=port_argument,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--public-url",
        default=None,
        help="base URL clients reach this server at, e.g. behind a proxy (default: per request)",
    )
    parser.add_argument(
        "--ui",
        choices=["on", "off"],
        default="on",
        help="serve the web UI at / (default on): visitors log in with an API token and see "
        "only the projects of its grant",
    )
    parser.add_argument(
        "--ui-session-recheck",
        type=_positive_seconds,
        default=UI_SESSION_RECHECK_S,
        metavar="SECONDS",
        help="re-read a UI session's key at least this often, so the sessions of a revoked "
        f"token end within it (default {UI_SESSION_RECHECK_S:g})",
    )
    parser.add_argument(
        "--key-recheck",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="re-read an API key at least this often, so a revoked key's access tokens stop "
        "working within it (default: $DESPINA_KEY_RECHECK_S, else 30)",
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="json: one JSON object per line, with one line per request (route, status, "
        "latency, the token's key id; never the token) (default text)",
    )
    parser.add_argument(
        "--metrics-port",
        type=port_argument,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics at /metrics on this port of its own (default: off; "
        "0 picks a free one)",
    )
    parser.add_argument(
        "--metrics-host",
        default=DEFAULT_HOST,
        help=f"address of the metrics port (default {DEFAULT_HOST})",
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=_positive_seconds,
        default=SHUTDOWN_TIMEOUT_S,
        metavar="SECONDS",
        help="on SIGTERM, stop accepting and give requests in flight this long to finish "
        f"(default {SHUTDOWN_TIMEOUT_S:g})",
    )
    add_log_level_option(parser, default="info", what="the server")
    parser.set_defaults(func=run_server)


def log_config(level: str, log_format: str = "text") -> dict[str, Any]:
    """uvicorn's logging setup with every handler behind the secret-redacting filter.

    ``json``: every record is one JSON line (``despina.api.JsonLines``), and the request log of
    the app (``despina.requests``) replaces uvicorn's access log, which knows no route or key.
    """
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": "despina.api.RedactSecrets"}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
    config["loggers"]["despina"] = {"handlers": ["default"], "level": level.upper()}
    if log_format == "json":
        config["formatters"] = {"json": {"()": "despina.api.JsonLines"}}
        for handler in config["handlers"].values():
            handler["formatter"] = "json"
        config["loggers"]["despina.requests"] = {
            "handlers": ["access"],
            "level": "INFO",
            "propagate": False,
        }
    return config


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return seconds


def _check_schema(location: str) -> None:
    """Open the store once before binding: an old PostgreSQL schema stops the start with the
    StoreError naming `despina migrate` (one line, exit 1), not a traceback from uvicorn."""
    from despina.store import open_store

    open_store(location).close()


def run_server(args: argparse.Namespace) -> int:
    from despina.api import ServerSettings, create_app

    settings = ServerSettings(
        db=store_location(args.db),
        public_url=args.public_url,
        ui=args.ui == "on",
        ui_session_recheck_s=args.ui_session_recheck,
        log_format=args.log_format,
        metrics=args.metrics_port is not None,
        **({} if args.key_recheck is None else {"key_recheck_s": args.key_recheck}),
    )
    _check_schema(settings.db)
    app = create_app(settings)
    sock = bind("server", args.host, args.port)
    if sock is None:
        return 1
    port = listening_port(sock)
    print(f"despina server: store {settings.db}, listening on http://{args.host}:{port}")
    if args.metrics_port is not None:
        try:
            metrics_port = app.state.metrics.serve(args.metrics_host, args.metrics_port)
        except OSError as error:
            sock.close()
            print(f"despina server: cannot serve metrics: {error}", file=sys.stderr)
            return 1
        print(f"despina server: metrics at http://{args.metrics_host}:{metrics_port}/metrics")
    if settings.ui:
        url = f"{(args.public_url or f'http://{args.host}:{port}').rstrip('/')}/"
        print(f"despina server: web UI at {url} (log in with an API token: `despina token create`)")
    else:
        print("despina server: web UI off (--ui on serves it, with a login by API token)")
    with sock:
        serve(
            app,
            sock,
            host=args.host,
            port=port,
            log_config=log_config(args.log_level, args.log_format),
            log_level=args.log_level,
            timeout_graceful_shutdown=args.shutdown_timeout,
            # json: the app's request log (route, key id) replaces uvicorn's access lines
            access_log=args.log_format != "json",
            # Bodies above the ingest limit are refused by the app itself (413); uvicorn's own
            # limits stay at their defaults.
        )
    return 0
