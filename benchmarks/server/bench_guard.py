"""What the security headers (CSP, nosniff, no framing) cost per request, side by side.

The real server app (``despina.api.create_app``) is called in-process over ASGI, without a
socket, so the figure is the app's own time per request: with `despina.ui.SecurityHeaders` as
shipped, and with it removed. Rows: a small JSON answer (``/api/backend/v1/clients/config``)
and an error answer (``/ingest`` without a valid token, 401); then the middleware alone around an
ASGI app that answers at once. (The ``/ingest`` Content-Type check
is one header read and a string comparison.) Figures are medians of several rounds on a shared
machine: noisy to a few microseconds.

    python benchmarks/server/bench_guard.py [--requests 5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from typing import Any, cast

from despina.api import ServerContext, ServerSettings, create_app
from despina.ui import SecurityHeaders


def _request(path: str, method: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def _per_request_us(app: Any, scope: dict[str, Any], count: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    start = time.perf_counter()
    for _ in range(count):
        await app(dict(scope), receive, send)
    return (time.perf_counter() - start) / count * 1e6


async def _trivial(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI app that answers a fixed JSON body: the middleware's own cost stands out."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


def _apps(folder: str) -> tuple[Any, Any, ServerContext]:
    settings = ServerSettings(db=folder, ui=True)
    ctx = ServerContext.open(settings)
    guarded = create_app(settings, ctx)
    bare = create_app(settings, ctx)
    bare.user_middleware = [
        m for m in bare.user_middleware if cast(Any, m.cls) is not SecurityHeaders
    ]
    return guarded, bare, ctx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    token = [(b"authorization", b"Bearer x"), (b"content-type", b"text/plain")]
    rows = {
        "GET clients/config (JSON)": _request("/api/backend/v1/clients/config", "GET", []),
        "POST /ingest, no token (401)": _request("/api/client/v1/ingest", "POST", token),
    }
    with tempfile.TemporaryDirectory() as folder:
        guarded, bare, ctx = _apps(folder)
        cases = [(name, scope, bare, guarded) for name, scope in rows.items()]
        trivial = _request("/", "GET", [])
        cases.append(("trivial ASGI app", trivial, _trivial, SecurityHeaders(_trivial)))
        try:
            print(f"{'request':<28} {'without µs':>11} {'with µs':>9} {'cost µs':>8}")
            for name, scope, bare, guarded in cases:
                times: dict[str, list[float]] = {"bare": [], "guarded": []}
                for _ in range(args.rounds):
                    for label, app in (("bare", bare), ("guarded", guarded)):
                        run = _per_request_us(app, scope, args.requests)
                        times[label].append(asyncio.run(run))
                without = statistics.median(times["bare"])
                with_ = statistics.median(times["guarded"])
                print(f"{name:<28} {without:>11.1f} {with_:>9.1f} {with_ - without:>8.1f}")
        finally:
            ctx.close()


if __name__ == "__main__":
    main()
