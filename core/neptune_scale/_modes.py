"""Where a run's data goes: mode resolution and the transport factory.

| setting                           | result                                                  |
| --------------------------------- | ------------------------------------------------------- |
| ``disabled``                      | nothing is logged                                       |
| ``offline``                       | operations stay on disk for ``neptune sync``             |
| API token (argument or env)       | ``async`` over HTTP to the server named in the token     |
| no token, mode unset or ``async`` | the embedded store in the log directory (``local``)      |

The local transport is found through the ``neptune_scale.transports`` entry point (name
``local``) so this package never imports server code; the HTTP transport lives in
``neptune_scale._http.create_http_transport(api_token)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Literal

from neptune_scale.transport import LocalStore, Transport

__all__ = ["Destination", "local_store", "make_transport", "resolve"]

Mode = Literal["async", "offline", "disabled"]
MODES = ("async", "offline", "disabled")
DEFAULT_LOCAL_PROJECT = "local/default"
DEFAULT_LOG_DIRECTORY = ".neptune"
TRANSPORT_ENTRY_POINT_GROUP = "neptune_scale.transports"


@dataclass(frozen=True)
class Destination:
    mode: Mode
    kind: Literal["local", "http", "none"]
    project: str
    api_token: str | None
    log_directory: Path


def resolve(
    *,
    mode: str | None,
    api_token: str | None,
    project: str | None,
    log_directory: str | Path | None,
) -> Destination:
    """Apply arguments, then environment variables, then defaults. Raises ValueError."""
    chosen = mode if mode is not None else os.environ.get("NEPTUNE_MODE") or None
    if chosen is not None and chosen not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {chosen!r}")
    token = api_token if api_token is not None else os.environ.get("NEPTUNE_API_TOKEN") or None
    directory = Path(
        log_directory
        if log_directory is not None
        else os.environ.get("NEPTUNE_LOG_DIRECTORY") or DEFAULT_LOG_DIRECTORY
    )
    project = project if project is not None else os.environ.get("NEPTUNE_PROJECT") or None
    if chosen == "disabled":
        return Destination("disabled", "none", project or DEFAULT_LOCAL_PROJECT, token, directory)
    kind: Literal["local", "http", "none"] = "http" if token else "local"
    if project is None:
        if kind == "http":
            raise ValueError(
                "project is required when sending to a server: pass project='workspace/project' "
                "or set NEPTUNE_PROJECT"
            )
        project = DEFAULT_LOCAL_PROJECT
    if chosen == "offline":
        return Destination("offline", "none", project, token, directory)
    return Destination("async", kind, project, token, directory)


def make_transport(kind: Literal["local", "http"], destination: Destination) -> Transport:
    if kind == "local":
        return _local_transport(destination.log_directory)
    if destination.api_token is None:
        raise ValueError("an API token is needed to send to a server")
    return _http_transport(destination.api_token)


def _local_transport(log_directory: Path) -> Transport:
    store = local_store(required=True)
    assert store is not None  # required: raised instead
    return store(log_directory)


def local_store(*, required: bool) -> LocalStore | None:
    """The embedded store's registration (entry point ``local``); when none is installed, None,
    or RuntimeError when ``required``. RuntimeError too when it cannot be imported."""
    found = [ep for ep in entry_points(group=TRANSPORT_ENTRY_POINT_GROUP) if ep.name == "local"]
    if not found and not required:
        return None
    if not found:
        raise RuntimeError(
            "No local transport is installed (entry point 'local' in group "
            f"'{TRANSPORT_ENTRY_POINT_GROUP}'). Install the despina distribution "
            "(pip install despina), pass an API token to send to a server, or use mode='offline'."
        )
    try:
        factory = found[0].load()
    except ImportError as e:
        raise RuntimeError(
            f"The local transport ({found[0].value}) cannot be imported yet: {e}. "
            "Use mode='offline' and `neptune sync` later, or send to a server with an API token."
        ) from e
    store: LocalStore = factory
    return store


def _http_transport(api_token: str) -> Transport:
    try:
        from neptune_scale._http import create_http_transport
    except ImportError as e:
        raise RuntimeError(
            "Sending to a server needs the HTTP transport (neptune_scale._http), which is not "
            "part of this installation yet. Use mode='offline', or unset the API token to log "
            "into the embedded store."
        ) from e
    transport: Transport = create_http_transport(api_token)
    return transport
