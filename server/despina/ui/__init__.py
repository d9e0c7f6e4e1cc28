"""The Despina web UI: runs table, run pages, charts and comparison over any store.

``create_router(store)`` gives a FastAPI router holding the pages (``/``, ``/runs``, ``/run``,
``/compare``), the UI's JSON (``/ui-api/...``) and its static files (``/ui-static/...``), none of
them under the Neptune protocol's ``/api/...``; a server includes it with one line::

    app.include_router(despina.ui.create_router(store))

``create_app(store)`` is a FastAPI app with only the UI, which ``despina ui`` serves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

__all__ = ["create_app", "create_router"]


def create_router(store: Any, *, prefix: str = "") -> APIRouter:
    """The UI as a ``fastapi.APIRouter`` over ``store``: a `despina.store.Store`, a store
    location, or a function returning the store, called on the first request (for apps that
    open their store at startup: ``create_router(lambda: app.state.ctx.store)``).

    ``prefix`` (e.g. ``"/ui"``) moves every UI path under it; links and scripts follow.
    """
    from fastapi import APIRouter

    from despina.ui._api import api_router
    from despina.ui._pages import pages_router
    from despina.ui._source import UiSource

    source = UiSource(store)
    router = APIRouter(prefix=prefix)
    router.include_router(pages_router(source, prefix))
    router.include_router(api_router(source))
    return router


def create_app(store: Any) -> FastAPI:
    """A FastAPI app serving only the UI (what ``despina ui`` runs)."""
    from fastapi import FastAPI

    app = FastAPI(title="Despina UI", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(create_router(store))
    return app
