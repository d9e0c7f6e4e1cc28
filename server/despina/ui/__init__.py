"""The Despina web UI: runs table, run pages, charts and comparison over any store.

``create_router(store)`` gives a FastAPI router holding the pages (``/``, ``/runs``, ``/run``,
``/compare``), the UI's JSON (``/ui-api/...``) and its static files (``/ui-static/...``), none of
them under the Neptune protocol's ``/api/...``; a server includes it with one line::

    app.include_router(despina.ui.create_router(store, login=TokenLogin(keys)))

Access is chosen explicitly with ``login``: ``None`` (``despina ui`` on the user's own machine)
shows every project to whoever reaches it; a `TokenLogin` (``despina server``) adds a login page
where a visitor pastes an API token, and then shows exactly the projects of that token's grant
(``/login``, ``/logout``; a session cookie).

``create_app(store)`` is a FastAPI app with only the UI, without login, which ``despina ui``
serves on a loopback address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from despina.ui._session import SESSION_RECHECK_S, SESSION_TTL_S, TokenLogin

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

__all__ = ["SESSION_RECHECK_S", "SESSION_TTL_S", "TokenLogin", "create_app", "create_router"]


def create_router(store: Any, *, prefix: str = "", login: TokenLogin | None = None) -> APIRouter:
    """The UI as a ``fastapi.APIRouter`` over ``store``: a `despina.store.Store`, a store
    location, or a function returning the store, called on the first request (for apps that
    open their store at startup: ``create_router(lambda: app.state.ctx.store)``).

    ``prefix`` (e.g. ``"/ui"``) moves every UI path under it; links and scripts follow.
    ``login``: None serves every project without a login (only for a UI that only its owner
    reaches); a `TokenLogin` limits each visitor to the grant of the API token they log in with.
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


def create_app(store: Any) -> FastAPI:
    """A FastAPI app serving only the UI, without login (what ``despina ui`` runs)."""
    from fastapi import FastAPI

    app = FastAPI(title="Despina UI", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(create_router(store, login=None))
    return app
