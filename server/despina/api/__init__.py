"""The Despina server's HTTP API: the Neptune Scale wire protocol, write side.

``create_app(ServerSettings(db=...))`` builds the FastAPI app; ``despina server`` runs it on
uvicorn. Routers: authentication (client config, OpenID discovery, API-key exchange, refresh),
ingestion (``/ingest``, ``/ingest/check``, ``/ingest/checkDetails``) and files (signed URLs and
the storage endpoints they point at), and the operator's ``/healthz`` and ``/readyz``. The read
side lives in its own router module.
"""

from __future__ import annotations

from despina.api._app import RedactSecrets, create_app
from despina.api._context import ServerContext
from despina.api._operator import JsonLines
from despina.api._process import ServerProcess, free_port
from despina.api._settings import DEFAULT_HOST, DEFAULT_PORT, UI_SESSION_RECHECK_S, ServerSettings

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "UI_SESSION_RECHECK_S",
    "JsonLines",
    "RedactSecrets",
    "ServerContext",
    "ServerProcess",
    "ServerSettings",
    "create_app",
    "free_port",
]
