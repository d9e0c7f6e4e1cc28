"""``create_project`` / ``list_projects``, as in the official client's ``neptune_scale.projects``.

With an API token (argument or ``NEPTUNE_API_TOKEN``) they call the server's project endpoints
(protocol §2.7). Without one they work on the embedded store in the log directory, where
projects come into being with their first run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from neptune_scale import _modes
from neptune_scale._validation import check_project
from neptune_scale.exceptions import NeptuneScaleError

__all__ = ["NeptuneProjectAlreadyExists", "create_project", "list_projects"]

PROJECTS_PATH = "/api/backend/v1/projects"
REQUEST_TIMEOUT_S = 30.0
VISIBILITIES = ("priv", "pub", "workspace")


class NeptuneProjectAlreadyExists(NeptuneScaleError):
    default_message = "The project already exists."


def create_project(
    name: str,
    *,
    workspace: str | None = None,
    visibility: str = "priv",
    description: str | None = None,
    key: str | None = None,
    fail_if_exists: bool = False,
    api_token: str | None = None,
    log_directory: str | Path | None = None,
    _client: Any = None,
) -> str:
    """Create ``workspace/name`` (``name`` may already be ``workspace/project``); returns it.

    Raises NeptuneProjectAlreadyExists if it exists and ``fail_if_exists``; NeptuneScaleError
    when the server refuses (the message names the reason).
    """
    project = check_project(name if workspace is None else f"{workspace}/{name}")
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}, got {visibility!r}")
    token = api_token or os.environ.get("NEPTUNE_API_TOKEN")
    if not token:
        if fail_if_exists and project in list_projects(log_directory=log_directory):
            raise NeptuneProjectAlreadyExists(f"Project {project} already exists")
        return project  # the embedded store creates it with its first run
    organization, _, short = project.partition("/")
    body = {"name": short, "organizationIdentifier": organization, "visibility": visibility,
            "description": description, "projectKey": key}  # fmt: skip
    response = _request(token, "POST", PROJECTS_PATH, body, _client)
    if response.status_code == 409:
        if fail_if_exists:
            raise NeptuneProjectAlreadyExists(f"Project {project} already exists")
        return project
    _raise_for_status(response, f"creating project {project}")
    return project


def list_projects(
    *, api_token: str | None = None, log_directory: str | Path | None = None, _client: Any = None
) -> list[str]:
    """Names (``workspace/project``) of the projects the token can see, or of the embedded
    store's projects when there is no token."""
    token = api_token or os.environ.get("NEPTUNE_API_TOKEN")
    if not token:
        dest = _modes.resolve(mode="async", api_token=None, project=None,
                              log_directory=log_directory)  # fmt: skip
        store = _modes.local_store(required=False)  # without one, no embedded store was made
        return [] if store is None else store.list_projects(dest.log_directory)
    response = _request(token, "GET", PROJECTS_PATH, None, _client)
    _raise_for_status(response, "listing projects")
    entries = response.json().get("entries", [])
    return sorted(f"{e['organizationName']}/{e['name']}" for e in entries)


def _request(token: str, method: str, path: str, body: Any, client: Any) -> Any:
    import httpx

    from neptune_scale._http import Authenticator
    from neptune_scale.token import parse_api_token

    decoded = parse_api_token(token)
    own = client is None
    client = client or httpx.Client(base_url=decoded.api_url, follow_redirects=True)
    try:
        deadline = time.monotonic() + REQUEST_TIMEOUT_S
        bearer = Authenticator(client, decoded).bearer(deadline)
        return client.request(method, path, json=body, timeout=REQUEST_TIMEOUT_S,
                              headers={"Authorization": f"Bearer {bearer}"})  # fmt: skip
    finally:
        if own:
            client.close()


def _raise_for_status(response: Any, what: str) -> None:
    if not 200 <= response.status_code < 300:
        raise NeptuneScaleError(f"{what}: the server answered {response.status_code}: "
                                f"{response.text[:500]}")  # fmt: skip
