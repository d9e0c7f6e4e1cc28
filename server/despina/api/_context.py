"""What every request handler shares: settings, the store, the server tables, the signing secret.

Nothing here is per-process *state* in the protocol's sense: keys, refresh tokens, request
statuses and the secret all live in the database, so any process can answer any request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from despina.api._settings import ServerSettings
from despina.api._statuses import StatusBook
from despina.auth import (
    Grant,
    InvalidAccessToken,
    KeyRing,
    LiveKeys,
    ServerDatabase,
    verify_access_token,
)

__all__ = [
    "ServerContext",
    "bearer_grant",
    "context_of",
    "public_url",
    "read_body",
    "reject",
    "require_project",
]

BEARER_PREFIX = "bearer "
# 403, not 401: the official neptune-scale retries a 401 on /ingest and /ingest/check forever
# (it never re-exchanges before its token expires), but stops on a 403 (protocol §2.4);
# neptune-query and our client stop on either. A bad or expired token still gets 401.
REVOKED_STATUS = 403
REVOKED_MESSAGE = (
    "the API key of this access token was revoked on this server; "
    "create a new API token (`despina token create`)"
)
READ_CHUNK_BYTES = 1024 * 1024


@dataclass
class ServerContext:
    settings: ServerSettings
    store: Any  # despina.store.Store (typed loosely: the store package is another part)
    db: ServerDatabase
    keys: KeyRing
    secret: str
    statuses: StatusBook
    # Bearer tokens carry their grant; this memo re-reads each key every key_recheck_s.
    live_keys: LiveKeys
    # The same engine and files, but refusing to create projects (for grants without that right).
    store_no_create: Any = None

    @classmethod
    def open(cls, settings: ServerSettings) -> ServerContext:
        from despina.store import Store, open_store  # imported when a server starts

        db = ServerDatabase(settings.db)
        keys = KeyRing(db)
        store = open_store(settings.db)
        return cls(
            settings=settings,
            store=store,
            store_no_create=Store(store.engine, store.files, create_projects=False),
            db=db,
            keys=keys,
            secret=keys.signing_secret(),
            live_keys=LiveKeys(keys, settings.key_recheck_s),
            statuses=StatusBook(db, settings.status_retention_s),
        )

    def close(self) -> None:
        close = getattr(self.store, "close", None)
        if callable(close):
            close()
        self.db.close()


def context_of(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


def public_url(request: Request) -> str:
    """The base URL clients use for this server (configured, else the one this request used)."""
    configured = context_of(request).settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


def reject(status: int, message: str, headers: dict[str, str] | None = None) -> NoReturn:
    """Stop the request with ``status`` and a JSON body ``{"code", "message", "detail"}``."""
    raise HTTPException(status_code=status, detail=message, headers=headers)


async def bearer_grant(request: Request) -> Grant:
    """The grant of the request's ``Authorization: Bearer`` access token while its key is live.

    401 without a token or with one this server did not sign (or that expired); 403 once its
    key is revoked, seen within ``ServerSettings.key_recheck_s``. A key read within that time
    costs no database read; else the read runs in a worker thread, off the event loop.
    """
    header = request.headers.get("authorization", "")
    if not header.lower().startswith(BEARER_PREFIX):
        reject(
            401,
            "missing 'Authorization: Bearer <access token>' header",
            {"WWW-Authenticate": "Bearer"},
        )
    ctx = context_of(request)
    try:
        claimed = verify_access_token(ctx.secret, header[len(BEARER_PREFIX) :].strip())
    except InvalidAccessToken as exc:
        reject(401, str(exc), {"WWW-Authenticate": "Bearer"})
    # The request log names the key (its public id), never the token.
    request.state.key_id = claimed.key_id
    seen = ctx.live_keys.fresh(claimed.key_id)
    if seen is not None:
        grant = seen.grant
    else:
        grant = await run_in_threadpool(ctx.live_keys.grant_of, claimed.key_id)
    if grant is None:
        reject(REVOKED_STATUS, REVOKED_MESSAGE)
    return grant


def require_project(grant: Grant, project: str) -> None:
    """403 unless ``project`` (``workspace/project``) is within the grant."""
    if not grant.allows(project):
        reject(403, f"this token is limited to {grant.scope}; project {project!r} is outside it")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or 413 as soon as it exceeds ``limit`` bytes (never buffered past it)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        reject(413, f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            reject(413, f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
