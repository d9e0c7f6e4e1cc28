"""``despina ui``: the web UI over a store (by default the embedded one), served by uvicorn.

It has no login: it is the user's own files, served on their own machine (127.0.0.1 by default),
and whoever can read the store folder can read every run anyway. A UI others reach is
``despina server``'s, where visitors log in with an API token and see only its grant.
Without a login, a web page could read it through DNS rebinding (a name of the page's own that
resolves to 127.0.0.1), so only requests addressed to a name it listens as are answered
(``--allow-host`` adds names).
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import sys
import threading
from typing import Any

from despina.cli._common import add_store_option, deliver_and_say, store_location
from despina.cli._serve import add_log_level_option, bind, listening_port, port_argument, serve

__all__ = ["DEFAULT_UI_HOST", "DEFAULT_UI_PORT", "register", "run_ui"]

DEFAULT_UI_HOST = "127.0.0.1"  # loopback: this UI has no login, whoever reaches it reads all
DEFAULT_UI_PORT = 8765
PENDING_RESCAN_S = 5.0  # how often the UI looks for run logs that killed processes left

# Without the server extra this command is not offered (the CLI skips modules that fail to import).
for _module in ("fastapi", "uvicorn", "jinja2"):
    if importlib.util.find_spec(_module) is None:
        raise ImportError(f"`despina ui` needs the server extra ({_module} is missing)")


def register(subparsers: Any) -> None:
    """Add the ``ui`` command to the ``despina`` argument parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "ui",
        help="browse runs in the web UI (runs table, charts, comparison)",
        description="Serve the web UI over a store (the embedded one in .neptune by default) "
        "on this machine, without login. To share a UI, run `despina server`: it serves the "
        "same UI behind a login by API token.",
    )
    add_store_option(parser)
    parser.add_argument(
        "--host",
        default=DEFAULT_UI_HOST,
        help=f"address ({DEFAULT_UI_HOST}; there is no login, so whoever reaches it reads all)",
    )
    parser.add_argument(
        "--port",
        type=port_argument,
        default=DEFAULT_UI_PORT,
        help=f"port (default {DEFAULT_UI_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests addressed to NAME (repeatable). Only the names it listens "
        "as are answered: 127.0.0.1, localhost, [::1] and --host; for --host 0.0.0.0 also this "
        "machine's host names and any IP address. Others get 400 (DNS rebinding)",
    )
    add_log_level_option(parser, default="warning", what="the web server")
    parser.set_defaults(func=run_ui)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def run_ui(args: argparse.Namespace) -> int:
    from despina.store import open_store
    from despina.ui import create_app

    location = store_location(args.store)
    # An existing store only: a typo in --store says so instead of serving an empty new one.
    with open_store(location, create=False) as store:
        sock = bind("ui", args.host, args.port)
        if sock is None:
            return 1
        port = listening_port(sock)
        print(f"despina ui: store {location}, open http://{args.host}:{port}/", flush=True)
        if not _is_loopback(args.host):
            print(
                f"despina ui: warning: {args.host} is not a loopback address and this UI has no "
                "login; whoever reaches it reads every run (`despina server` has a login)",
                file=sys.stderr,
                flush=True,
            )
        app = create_app(store, host=args.host, allowed_hosts=args.allow_host)
        stop = threading.Event()
        _deliver_in_background(location, stop)
        try:
            serve(app, sock, host=args.host, port=port, log_level=args.log_level)
        finally:
            stop.set()
            sock.close()
    return 0


def _deliver_in_background(location: str, stop: threading.Event) -> None:
    """Deliver the run logs killed processes left in the store's folder now and every few
    seconds, beside the server: a run killed while the UI is open shows up without a sync."""

    def loop() -> None:
        first = True
        while not stop.is_set():
            try:
                deliver_and_say(location, budget_s=None, say_left=first)
            except Exception as error:  # the UI goes on; the logs stay for `despina sync`
                print(f"despina ui: could not deliver run logs: {error}", file=sys.stderr)
            first = False
            stop.wait(PENDING_RESCAN_S)

    threading.Thread(target=loop, name="despina-ui-pending", daemon=True).start()
