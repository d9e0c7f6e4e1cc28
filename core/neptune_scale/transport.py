"""The interface between the upload pipeline and wherever operations land.

The sender hands a transport serialized ``neptune.ingest.v1.pub.RunOperation`` messages, one
request at a time (a ``create`` alone, or an ``update_batch`` of snapshots), exactly as the Neptune
Scale ingest endpoint receives them. Two transports implement it:

* local — ``despina.store.transport.LocalTransport`` applies operations to the embedded store
  (found through the ``neptune_scale.transports`` entry point, so the client never imports server
  code at import time);
* http — speaks the Neptune Scale wire protocol to a server (``despina server`` or compatible).

Transports return results instead of raising: delivery problems come back as :class:`Failed`
(with ``retryable`` telling the sender whether to try again); rules checked where the data lands
come back from :meth:`Transport.check` as :class:`IngestIssue` values carrying the
``neptune.ingest.v1.IngestCode``. Retrying is the sender's job, not the transport's.

A transport is called from several threads at once (the sender, the status checker and up to
``MAX_CONCURRENT_UPLOADS`` upload slots): every method, lazy set-up included, is thread-safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = [
    "Failed",
    "IngestIssue",
    "LocalStore",
    "Processed",
    "Submitted",
    "Transport",
]


@dataclass(frozen=True, slots=True)
class IngestIssue:
    """One rule broken where the data landed.

    ``code`` is a ``neptune.ingest.v1.IngestCode`` value, ``path`` the attribute it concerns
    ("" for run-level problems), ``message`` a human sentence naming the field and the limit,
    ``count`` how many values of the request it concerns.
    """

    code: int
    path: str = ""
    message: str = ""
    count: int = 1


@dataclass(frozen=True, slots=True)
class Submitted:
    """The request was handed over; its fate is known later through :meth:`Transport.check`."""

    request_id: str


@dataclass(frozen=True, slots=True)
class Processed:
    """The request is durable where it landed; ``issues`` lists what was rejected or warned."""

    issues: tuple[IngestIssue, ...] = ()


@dataclass(frozen=True, slots=True)
class Failed:
    """Delivery did not happen.

    ``retryable`` False means trying again cannot help (bad credentials, forbidden project);
    ``retry_after_s`` is the server's hint when it gave one.
    """

    error: BaseException
    retryable: bool
    retry_after_s: float | None = None


@runtime_checkable
class Transport(Protocol):
    """Where a run's operations go. One instance serves one process; it is not fork-safe."""

    def submit(self, project: str, run_id: str, operation: bytes) -> Submitted | Failed:
        """Hand over one serialized ``RunOperation`` (``project``/``run_id`` repeat its fields)."""
        ...

    def check(self, project: str, request_ids: Sequence[str]) -> list[Processed | None] | Failed:
        """The state of earlier submissions, one entry per id in order; None = not processed yet."""
        ...

    def upload_file(
        self, project: str, destination: str, source: Path, mime_type: str
    ) -> Failed | None:
        """Store a file's bytes under ``destination`` (relative to the project)."""
        ...

    def close(self) -> None:
        """Release connections; called once, after the last use."""
        ...


class LocalStore(Protocol):
    """What the ``local`` entry point of the ``neptune_scale.transports`` group names: the
    embedded store's side of the client, registered by the distribution that has one (despina),
    so the client reaches it without importing server code."""

    def __call__(self, log_directory: Path) -> Transport:
        """The transport into the store in ``log_directory``."""
        ...

    def list_projects(self, log_directory: Path) -> list[str]:
        """Sorted names of the store's projects; [] when there is no store there yet."""
        ...
