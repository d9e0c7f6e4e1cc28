"""Settings of one server process (pydantic; filled from the ``despina server`` command line)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, Field

from despina.auth import KEY_RECHECK_S

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "KEY_RECHECK_ENV",
    "MIB",
    "UI_SESSION_RECHECK_S",
    "ServerSettings",
]

MIB = 1024 * 1024
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8899
# The official client packs up to 16 MiB of operations into one POST (protocol §2.5); the margin
# covers the RunOperation envelope around that budget.
MAX_INGEST_BODY_BYTES = 16 * MIB + 1 * MIB
MAX_JSON_BODY_BYTES = 4 * MIB
# neptune-query sends a float-series query for up to ~12,000 series of 1,024-character names in
# one body (5-15 MB, which the hosted service accepts); the bound leaves room for that and no more.
MAX_FLOAT_SERIES_BODY_BYTES = 32 * MIB
MAX_FILE_BYTES = 8 * 1024 * MIB
SIGNED_URL_TTL_S = 3600
STATUS_RETENTION_S = 7 * 24 * 3600.0
UI_SESSION_RECHECK_S = 60.0  # despina.ui.SESSION_RECHECK_S (not imported: the UI is optional)
# `despina server` has no flag for it (yet): a deployment or a test sets it in the environment.
KEY_RECHECK_ENV = "DESPINA_KEY_RECHECK_S"


def _key_recheck_default() -> float:
    text = os.environ.get(KEY_RECHECK_ENV)
    if text is None or not text.strip():
        return KEY_RECHECK_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:
        raise ValueError(f"${KEY_RECHECK_ENV} must be a number of seconds > 0, got {text!r}")
    return seconds


class ServerSettings(BaseModel):
    """What a server process needs to know; everything else lives in the database."""

    db: str = Field(description="store location: a folder, sqlite:///FOLDER or postgresql://…")
    public_url: str | None = Field(
        default=None,
        description="base URL clients reach this server at; default: taken from each request",
    )
    ui: bool = Field(
        default=False,
        description="serve the web UI beside the protocol, with a login by API token: each "
        "visitor sees only the projects of their token's grant",
    )
    ui_session_recheck_s: float = Field(
        default=UI_SESSION_RECHECK_S,
        gt=0,
        description="a UI session's key is re-read at least this often, so a revoked token's "
        "sessions end within it",
    )
    key_recheck_s: float = Field(
        default_factory=_key_recheck_default,
        gt=0,
        description="each process re-reads an API key from the server tables at least this "
        f"often, so a revoked key's access tokens stop working within it (default: "
        f"${KEY_RECHECK_ENV}, else {KEY_RECHECK_S:g})",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="json: one JSON line per request (route, status, latency, token key id) "
        "and per log record, instead of uvicorn's text access log",
    )
    metrics: bool = Field(
        default=False,
        description="keep Prometheus metrics (served by `despina server --metrics-port`)",
    )
    client_id: str = "despina"
    realm: str = "despina"
    max_ingest_body_bytes: int = Field(default=MAX_INGEST_BODY_BYTES, gt=0)
    max_json_body_bytes: int = Field(default=MAX_JSON_BODY_BYTES, gt=0)
    max_float_series_body_bytes: int = Field(default=MAX_FLOAT_SERIES_BODY_BYTES, gt=0)
    max_file_bytes: int = Field(default=MAX_FILE_BYTES, gt=0)
    signed_url_ttl_s: int = Field(default=SIGNED_URL_TTL_S, gt=0)
    status_retention_s: float = Field(default=STATUS_RETENTION_S, gt=0)
