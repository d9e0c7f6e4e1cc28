"""Where imported operations go: a ``neptune_scale`` transport, exactly as a run's sender uses it.

The embedded store or any store location goes through ``despina.store.transport.LocalTransport``
(what the client uses in embedded mode), a ``despina server`` through the client's HTTP
transport with an API token. Either way ``Store.apply`` applies the operation, with the rules
of protocol §7.2, so an import is never a side door into the tables. Delivery failures the
transport calls retryable are retried with a growing pause (as the client's sender does), up to
``RETRY_FOR_S``; the ingest issues of each request are returned to the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from neptune_scale import wire as enc
from neptune_scale.transport import Failed, IngestIssue, Processed, Transport

__all__ = ["DeliveryError", "Target", "http_target", "store_target"]

T = TypeVar("T")
RETRY_FOR_S = 120.0
_FIRST_PAUSE_S = 0.05
_MAX_PAUSE_S = 5.0


class DeliveryError(Exception):
    """The target refused or kept failing; the run stops here (others may still go)."""


class Target:
    """Sends serialized ``RunOperation``s and file bytes through one transport."""

    def __init__(self, transport: Transport, description: str) -> None:
        self.transport = transport
        self.description = description

    def create(self, project: str, run_id: str, create_run: bytes) -> tuple[IngestIssue, ...]:
        prefix = enc.run_operation_prefix(project, run_id)
        return self._send(project, run_id, enc.run_operation_create(prefix, create_run))

    def update(self, project: str, run_id: str, snapshots: bytes) -> tuple[IngestIssue, ...]:
        prefix = enc.run_operation_prefix(project, run_id)
        header = enc.run_operation_batch_header(prefix, len(snapshots))
        return self._send(project, run_id, header + snapshots)

    def upload(self, project: str, destination: str, source: Path, mime: str) -> None:
        self._retrying(lambda: self.transport.upload_file(project, destination, source, mime))

    def _send(self, project: str, run_id: str, operation: bytes) -> tuple[IngestIssue, ...]:
        submitted = self._retrying(lambda: self.transport.submit(project, run_id, operation))
        deadline = time.monotonic() + RETRY_FOR_S
        while True:
            answer = self.transport.check(project, [submitted.request_id])
            if not isinstance(answer, Failed) and answer[0] is not None:
                processed: Processed = answer[0]
                return processed.issues
            if isinstance(answer, Failed) and not answer.retryable:
                raise DeliveryError(str(answer.error))
            if time.monotonic() > deadline:
                raise DeliveryError(f"{self.description} did not confirm a request")
            time.sleep(_FIRST_PAUSE_S)

    def _retrying(self, attempt: Callable[[], T | Failed]) -> T:
        pause = _FIRST_PAUSE_S
        deadline = time.monotonic() + RETRY_FOR_S
        while True:
            result = attempt()
            if not isinstance(result, Failed):
                return result
            if not result.retryable or time.monotonic() > deadline:
                raise DeliveryError(f"{self.description}: {result.error}")
            time.sleep(result.retry_after_s or pause)
            pause = min(pause * 2, _MAX_PAUSE_S)

    def close(self) -> None:
        self.transport.close()


def store_target(location: str) -> Target:
    from despina.store.transport import LocalTransport

    return Target(LocalTransport(location), f"the store at {location}")


def http_target(api_token: str, url: str | None) -> Target:
    from neptune_scale.http_transport import create_http_transport
    from neptune_scale.token import parse_api_token

    address = (url or parse_api_token(api_token).api_url).rstrip("/")
    return Target(create_http_transport(api_token, url=address), f"the server at {address}")
