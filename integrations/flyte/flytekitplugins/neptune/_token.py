"""The API token of a remote attempt and the server host it names.

A Neptune token is base64 of a JSON object whose `api_url` is the server's base URL
(protocol §1.1; read by ``neptune_scale.token``), so links are built from the server that
actually receives the data instead of a hard-coded hosted address.
"""

from __future__ import annotations

import os

from flytekit import Secret
from flytekit.core.context_manager import ExecutionParameters
from neptune_scale.token import api_url_of

from ._options import SecretSource

TOKEN_ENV = "NEPTUNE_API_TOKEN"


class MissingTokenError(RuntimeError):
    """A remote attempt could not obtain its API token (raised before any run exists)."""


def resolve_token(secret: SecretSource, params: ExecutionParameters) -> str:
    """The API token for a remote attempt; raises MissingTokenError naming where it looked."""
    if isinstance(secret, Secret):
        try:
            token = params.secrets.get(group=secret.group, key=secret.key)
        except ValueError as error:
            raise MissingTokenError(
                f"Neptune API token secret (group={secret.group!r}, key={secret.key!r}) is not "
                "available to the task. Put the decorator above @task (it then adds the secret "
                "to the task's secret_requests) or pass "
                "secret_requests=[Secret(group=..., key=...)] to @task."
            ) from error
    elif secret is not None:
        token = secret()
    else:
        token = os.environ.get(TOKEN_ENV, "")
    if not isinstance(token, str) or not token.strip():
        raise MissingTokenError(
            "Neptune API token is empty: the secret/callable returned nothing and "
            f"{TOKEN_ENV} is not set. Remote executions need a token."
        )
    return token.strip()


def host_from_token(token: str | None) -> str | None:
    """The server base URL a token names (``neptune_scale.token`` rules), or None."""
    return api_url_of(token.strip() if token else None)


def configured_host(explicit: str | None, token: str | None = None) -> str | None:
    """`host` if given, else the token's server, else the one in $NEPTUNE_API_TOKEN."""
    if explicit:
        return explicit.rstrip("/")
    return host_from_token(token) or host_from_token(os.environ.get(TOKEN_ENV))
