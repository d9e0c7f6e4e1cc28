"""What an operator expects of a server process: health, readiness, request logs, metrics.

* ``GET /healthz``: the process is up (no I/O). ``GET /readyz``: the database answers a read and
  the file storage (folder or bucket) is reachable; 503 naming what is not. Both are
  unauthenticated and cheap (a readiness answer is reused for ``READY_CACHE_S``).
* :class:`RequestLog`: an ASGI middleware that times every request and hands (route template,
  method, status, seconds, token key id) to the JSON request log (``--log-format json``: one line
  per request on logger ``despina.requests``) and to the metrics, when they are on. The key id
  is the public half of an API key (``dsp1_<id>_…``) that signed the access token; the token
  itself is never seen here.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

__all__ = ["KEY_ID_STATE", "REQUEST_LOGGER", "JsonLines", "RequestLog", "RequestObserver", "router"]

READY_CACHE_S = 1.0  # a probe every second per load balancer costs one check per second
REQUEST_LOGGER = "despina.requests"
KEY_ID_STATE = "key_id"  # request.state field set by bearer_grant
INGEST_PATH = "/api/client/v1/ingest"
UNMATCHED_ROUTE = "unmatched"  # a 404's path is the client's text: never a label or log field

router = APIRouter()
log = logging.getLogger(REQUEST_LOGGER)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
RequestObserver = Callable[[str, str, int, float], None]


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    cached = getattr(state, "ready_answer", None)
    if cached is not None and time.monotonic() - cached[0] < READY_CACHE_S:
        return _ready_response(cached[1])
    problems = await run_in_threadpool(_problems, state.ctx.store)
    state.ready_answer = (time.monotonic(), problems)
    return _ready_response(problems)


def _ready_response(problems: dict[str, str]) -> JSONResponse:
    if problems:
        return JSONResponse({"status": "unavailable", **problems}, status_code=503)
    return JSONResponse({"status": "ok"})


def _problems(store: Any) -> dict[str, str]:
    problems = {}
    try:
        with store.engine.read() as tx:
            tx.project("")  # one indexed lookup: the database answers and the schema is there
    except Exception as exc:  # any failure means "not ready"; the message says which
        problems["database"] = f"{type(exc).__name__}: {exc}"[:300]
    try:
        store.files.check()
    except Exception as exc:
        problems["files"] = f"{type(exc).__name__}: {exc}"[:300]
    return problems


class RequestLog:
    """Times each HTTP request; reports it to the JSON log and to ``observers``."""

    def __init__(
        self,
        app: ASGIApp,
        json_log: bool,
        observers: list[RequestObserver],
        ingest_gauge: Callable[[int], None] | None = None,
    ) -> None:
        self.app = app
        self.json_log = json_log
        self.observers = observers
        self.ingest_gauge = ingest_gauge  # +1 when an /ingest request arrives, -1 when answered

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (self.json_log or self.observers):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees when the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        gauge = self.ingest_gauge if scope.get("path") == INGEST_PATH else None
        if gauge is not None:
            gauge(1)
        try:
            await self.app(scope, receive, send_status)
        finally:
            if gauge is not None:
                gauge(-1)
            self._report(scope, status, time.perf_counter() - started)

    def _report(self, scope: Scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
        method = str(scope.get("method", ""))
        for observe in self.observers:
            observe(route, method, status, seconds)
        if self.json_log:
            key_id = scope.get("state", {}).get(KEY_ID_STATE)
            fields = {
                "route": route,
                "method": method,
                "status": status,
                "latency_ms": round(seconds * 1000, 3),
                "key_id": key_id,
            }
            log.info("request", extra={"fields": fields})


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and a record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)
