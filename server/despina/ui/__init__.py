"""The Despina web UI: runs table, run pages, charts and comparison over any store.

``create_router(store)`` gives a FastAPI router holding the pages (``/``, ``/runs``, ``/run``,
``/compare``), the UI's JSON (``/ui-api/...``) and its static files (``/ui-static/...``), none of
them under the Neptune protocol's ``/api/...``; a server includes it with one line::

    app.include_router(despina.ui.create_router(store, login=TokenLogin(keys)))

Access is chosen explicitly with ``login``: ``None`` (``despina ui`` on the user's own machine)
shows every project to whoever reaches it; a `TokenLogin` (``despina server``) adds a login page
where a visitor pastes an API token, and then shows exactly the projects of that token's grant
(``/login``, ``/logout``; a session cookie).

``create_app(store, host=...)`` is a FastAPI app with only the UI, without login, which
``despina ui`` serves on a loopback address. It answers only requests whose ``Host`` is a name
it listens as (DNS rebinding), and, like ``despina server``, sends a Content-Security-Policy
that allows the UI's own scripts and styles only (`SecurityHeaders`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from despina.ui._guard import LOOPBACK_NAMES, SecurityHeaders
from despina.ui._session import SESSION_RECHECK_S, SESSION_TTL_S, TokenLogin

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

__all__ = [
    "SESSION_RECHECK_S",
    "SESSION_TTL_S",
    "SecurityHeaders",
    "TokenLogin",
    "create_app",
    "create_router",
]


def create_router(store: Any, *, prefix: str = "", login: TokenLogin | None = None) -> APIRouter:
    """The UI as a ``fastapi.APIRouter`` over ``store``: a `despina.store.Store`, a store
    location, or a function returning the store, called on the first request (for apps that
    open their store at startup: ``create_router(lambda: app.state.ctx.store)``).

    ``prefix`` (e.g. ``"/ui"``) moves every UI path under it; links and scripts follow.
    ``login``: None serves every project without a login (only for a UI that only its owner
    reaches); a `TokenLogin` limits each visitor to the grant of the API token they log in with.
    The app including it should also add the `SecurityHeaders` middleware (``create_app`` and
    ``despina server`` do): pages rely on its Content-Security-Policy.
    """
    from fastapi import APIRouter

    from despina.ui._access import Access
    from despina.ui._api import api_router
    from despina.ui._login import login_router
    from despina.ui._pages import pages_router, templates
    from despina.ui._source import UiSource

    access = Access(UiSource(store), login, prefix)
    env = templates(prefix)
    router = APIRouter(prefix=prefix)
    if login is not None:
        router.include_router(login_router(login, prefix, env))
    router.include_router(pages_router(access, env))
    router.include_router(api_router(access.source, access))
    return router


def create_app(
    store: Any, *, host: str = LOOPBACK_NAMES[0], allowed_hosts: Iterable[str] = ()
) -> FastAPI:
    """A FastAPI app serving only the UI, without login (what ``despina ui`` runs).

    ``host``: the address it listens on. Requests whose ``Host`` header is not a loopback name,
    ``host`` or one of ``allowed_hosts`` answer 400; for a wildcard ``host`` (``0.0.0.0``,
    ``::``) this machine's host names and every IP address literal are accepted too.
    """
    from fastapi import FastAPI

    from despina.ui._guard import AllowedHosts, host_names

    app = FastAPI(title="Despina UI", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(create_router(store, login=None))
    names, any_address = host_names(host, allowed_hosts)
    app.add_middleware(AllowedHosts, names=names, any_address=any_address)
    app.add_middleware(SecurityHeaders)  # added last, so outermost: the 400 above gets it too
    return app
