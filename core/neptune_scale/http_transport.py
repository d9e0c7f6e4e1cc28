"""The HTTP transport, for tools that send operations to a server as a run's sender does.

Public: ``despina import`` sends what it converts through it; ``__all__`` is the contract.
``create_http_transport(api_token, url=None)`` returns a
:class:`~neptune_scale.transport.Transport` speaking the Neptune Scale wire protocol over httpx
to the server the token names, or to ``url``; it raises ``NeptuneInvalidCredentialsError`` for
a token that is not one. A run given an API token chooses this transport by itself.
"""

from __future__ import annotations

from neptune_scale._http import create_http_transport

__all__ = ["create_http_transport"]
