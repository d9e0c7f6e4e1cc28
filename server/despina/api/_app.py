"""The FastAPI application: routers for each part of the protocol, errors as JSON, quiet logs."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from despina.api import _auth_routes, _files_routes, _ingest_routes, _operator, _project_routes
from despina.api._context import ServerContext
from despina.api._neptune_query import routes as _query_routes
from despina.api._operator import RequestLog, RequestObserver
from despina.api._settings import ServerSettings
from despina.ui import SecurityHeaders

__all__ = ["RedactSecrets", "create_app"]

# Signed-URL signatures appear in access-log request lines; API keys, JWTs and refresh tokens
# could appear in messages of libraries we do not control. None of them may reach a log.
_SECRET_PATTERNS = (
    (re.compile(r"(sig=)[0-9a-fA-F]+"), r"\1***"),
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"), "***jwt***"),
    (re.compile(r"dsp1_[0-9a-f]+_[\w-]+"), "***api-key***"),
    # A whole API token: base64 of JSON, so it starts like every base64 '{"…'.
    (re.compile(r"eyJ[A-Za-z0-9+/]{16,}={0,2}"), "***api-token***"),
)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message so that no signature, JWT or API key is ever written."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn's access formatter unpacks ``args``: redact inside them, keeping the shape.
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _redact(record.msg)
        return True


def _redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    # "code"/"message" is the shape neptune-api parses on errors; "detail" is FastAPI's.
    body = {"code": status, "message": message, "detail": message}
    return JSONResponse(status_code=status, content=body, headers=headers)


def create_app(settings: ServerSettings, context: ServerContext | None = None) -> FastAPI:
    """The server app for ``settings``; ``context`` lets tests share an already open one."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = context is None
        app.state.ctx = ServerContext.open(settings) if owned else context
        try:
            yield
        finally:
            if owned:
                app.state.ctx.close()

    app = FastAPI(title="Despina", lifespan=lifespan, docs_url=None, redoc_url=None)
    if context is not None:
        app.state.ctx = context  # usable without running the lifespan (in-process tests)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return _error(422, f"invalid request: {fields}")

    app.include_router(_operator.router)
    app.include_router(_auth_routes.router)
    app.include_router(_ingest_routes.router)
    app.include_router(_files_routes.router)
    app.include_router(_project_routes.router)
    app.include_router(_query_routes.router)
    if settings.ui:
        from despina.ui import TokenLogin, create_router

        # The store and key ring open with the lifespan: the UI asks for them on first use.
        # Visitors log in with an API token and see only the projects of its grant.
        login = TokenLogin(
            lambda: app.state.ctx.keys,
            public_url=settings.public_url,
            recheck_s=settings.ui_session_recheck_s,
        )
        app.include_router(create_router(lambda: app.state.ctx.store, login=login))
    # On every answer, protocol ones included: nothing this server sends may be framed, sniffed
    # into another type or, opened as a document, load anything but the UI's own files.
    app.add_middleware(SecurityHeaders)
    _add_request_log(app, settings)
    return app


def _add_request_log(app: FastAPI, settings: ServerSettings) -> None:
    observers: list[RequestObserver] = []
    gauge = None
    if settings.metrics:
        from despina.api._metrics import ServerMetrics

        def stores() -> list[object]:
            ctx = getattr(app.state, "ctx", None)
            return [] if ctx is None else [ctx.store, ctx.store_no_create]

        app.state.metrics = metrics = ServerMetrics(stores)
        observers.append(metrics.observe)
        gauge = metrics.ingest_gauge
    # outermost: it sees the status of every answer, errors and security headers included
    app.add_middleware(
        RequestLog,
        json_log=settings.log_format == "json",
        observers=observers,
        ingest_gauge=gauge,
    )
