"""The http transport: Neptune Scale wire protocol over httpx (no server extras needed).

``create_http_transport(api_token)`` returns a :class:`~neptune_scale.transport.Transport`
(public as ``neptune_scale.http_transport``); ``Authenticator`` trades the API token for access
tokens, for the client's other requests (``_projects``).
"""

from __future__ import annotations

from neptune_scale._http._auth import Authenticator
from neptune_scale._http._transport import ATTEMPT_TIMEOUT_S, HttpTransport, create_http_transport

__all__ = [
    "ATTEMPT_TIMEOUT_S",
    "Authenticator",
    "HttpTransport",
    "create_http_transport",
]
