"""Two ASGI middlewares that guard the UI from other web sites.

`SecurityHeaders` (the UI app and ``despina server``): pages may run only the UI's own scripts
and styles and may not be framed; no response is sniffed into another type.

`AllowedHosts` (``despina ui``, which has no login): answers 400 to a request whose ``Host`` is
not a name this UI listens as. A DNS rebinding attack points a name of the attacker's onto
127.0.0.1, so that a page of theirs reads this UI as "same origin"; the browser then still
sends the attacker's name as ``Host``, and that is refused. An IP address literal can never be
such a name, so when the UI listens on every address (``--host 0.0.0.0``) any IP literal is
accepted, with the machine's own host names and the names given with ``--allow-host``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse

__all__ = [
    "LOOPBACK_NAMES",
    "PAGE_POLICY",
    "RESOURCE_POLICY",
    "AllowedHosts",
    "SecurityHeaders",
    "host_names",
]

# Pages: the UI's own scripts and styles only (no inline code: page data travels in a JSON
# data block, which is not executed), fetches to this origin, no plugins, no framing.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# Everything else (JSON, protobuf, scripts, stored files): nothing in it may load or run
# anything if a browser is made to open it as a document, and it may not be framed.
RESOURCE_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_WILDCARD_ADDRESSES = ("0.0.0.0", "::", "")


def _encoded(policy: str) -> tuple[tuple[bytes, bytes], ...]:
    return (
        (b"content-security-policy", policy.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        # Page URLs carry project and run names: they stay on this server.
        (b"referrer-policy", b"same-origin"),
    )


_PAGE_HEADERS, _RESOURCE_HEADERS = _encoded(PAGE_POLICY), _encoded(RESOURCE_POLICY)


class SecurityHeaders:
    """Adds CSP, X-Frame-Options, X-Content-Type-Options and Referrer-Policy to every answer
    (headers a route set itself are kept). Works on the raw header list: every request of the
    server passes through here (benchmarks/server/bench_guard.py)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_guarded(message: Any) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", ()))
                present = {name.lower() for name, _ in raw}
                page = any(
                    name.lower() == b"content-type" and value.startswith(b"text/html")
                    for name, value in raw
                )
                added = _PAGE_HEADERS if page else _RESOURCE_HEADERS
                raw.extend(header for header in added if header[0] not in present)
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_guarded)


def _bare(name: str) -> str:
    """A host name as compared: lower case, no IPv6 brackets, no trailing dot."""
    name = name.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return name.rstrip(".")


def _host_of(header: str) -> str:
    """The name part of a ``Host`` header (``name``, ``name:port``, ``[v6]`` or ``[v6]:port``)."""
    if header.startswith("["):
        end = header.find("]")
        return _bare(header[: end + 1]) if end > 0 else ""
    name, _, port = header.rpartition(":")
    return _bare(name if name and port.isdigit() else header)


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_names(host: str, allowed: Iterable[str] = ()) -> tuple[frozenset[str], bool]:
    """The names a UI listening on ``host`` answers to, and whether any IP literal is accepted.

    Always the loopback names, ``host`` itself and ``allowed``; for a wildcard address
    (``0.0.0.0``, ``::``) also this machine's host names, and every IP address literal.
    """
    names = {*LOOPBACK_NAMES, host, *allowed}
    any_address = _bare(host) in _WILDCARD_ADDRESSES
    if any_address:
        names.update((socket.gethostname(), socket.getfqdn()))
    return frozenset(_bare(n) for n in names if _bare(n) not in _WILDCARD_ADDRESSES), any_address


class AllowedHosts:
    """Answers 400 to HTTP requests whose ``Host`` is not in ``names`` (nor, with
    ``any_address``, an IP address literal)."""

    def __init__(self, app: Any, names: Iterable[str], any_address: bool = False) -> None:
        self.app = app
        self.names = frozenset(_bare(n) for n in names)
        self.any_address = any_address

    def allows(self, header: str) -> bool:
        name = _host_of(header)
        return name in self.names or (self.any_address and _is_address(name))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            header = Headers(scope=scope).get("host", "")
            if not self.allows(header):
                # Not listing the accepted names: a rebinding page can read this answer.
                message = (
                    f"Host {header[:100]!r} is not a name this UI answers to; to allow "
                    "another name, start `despina ui` with --allow-host NAME"
                )
                await PlainTextResponse(message, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)
