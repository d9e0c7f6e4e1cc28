"""The listening socket of ``despina ui`` and ``despina server``, bound before anything is said.

The command binds the port itself and hands the socket to uvicorn: a port out of range is a
usage error, a port in use is one line saying what to try, and only then does the command print
where to open it. ``--port 0`` asks the system for a free port; the line printed names the real
one (binding first is what makes that possible, and leaves no window for another process to
take the port between the check and the start).
"""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

__all__ = ["LOG_LEVELS", "add_log_level_option", "bind", "listening_port", "port_argument", "serve"]

MAX_PORT = 65535
LISTEN_BACKLOG = 2048  # uvicorn's default
LOG_LEVELS = ("debug", "info", "warning")


def add_log_level_option(parser: argparse.ArgumentParser, *, default: str, what: str) -> None:
    """``--log-level`` of the commands that run a web server; ``what`` names that server."""
    parser.add_argument(
        "--log-level",
        default=default,
        choices=LOG_LEVELS,
        help=f"how much {what} logs on stderr (default {default})",
    )


def port_argument(text: str) -> int:
    """An argparse ``type`` for ``--port``: 0 to 65535 (0: any free port)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port: 1 to {MAX_PORT}, or 0 for any free one"
        )
    return port


def bind(command: str, host: str, port: int) -> socket.socket | None:
    """A socket listening on ``host:port``, or None after one line on stderr saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as error:
        print(f"despina {command}: cannot listen on {host!r}: {error}", file=sys.stderr)
        return None
    try:
        # As uvicorn does: a port left in TIME_WAIT by a previous run is free to take again.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except OSError as error:
        sock.close()
        print(f"despina {command}: {_why(error, host, port)}", file=sys.stderr)
        return None
    sock.set_inheritable(True)  # uvicorn's reload/worker modes expect it; harmless otherwise
    return sock


def _why(error: OSError, host: str, port: int) -> str:
    import errno

    if error.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use (another despina?); choose another with "
            "--port N, or --port 0 for any free one"
        )
    if error.errno == errno.EACCES:
        return f"no permission to listen on port {port} (ports below 1024 need root); try --port 0"
    return f"cannot listen on {host}:{port}: {error.strerror or error}"


def listening_port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


class _Terminated(Exception):
    pass


def _terminated(signum: int, frame: Any) -> None:
    raise _Terminated


def serve(app: Any, sock: socket.socket, **config: Any) -> None:
    """Run ``app`` on uvicorn over the bound ``sock`` until interrupted or terminated.

    On SIGTERM uvicorn stops accepting, lets requests in flight finish (within
    ``timeout_graceful_shutdown`` seconds, when given) and closes the app; then it raises the
    signal again for the handler found at start. That handler is ours, so a terminated server
    returns (exit status 0: a deliberate stop, as orchestrators expect) instead of dying by it.
    """
    import signal

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, **config))
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        server.run(sockets=[sock])
    except _Terminated:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
