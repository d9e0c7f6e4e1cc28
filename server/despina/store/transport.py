"""``LocalTransport``: the client's transport into the embedded store, without a server.

Found by the client through the ``neptune_scale.transports`` entry point named ``local``.
``submit`` parses the operation (an ``update_batch`` stays serialized until the store decodes it,
see ``_operation``) and applies it synchronously (durable on return), remembering the
issues under a fresh request id; ``check`` answers ``Processed(issues)`` for every id it issued.
Problems come back as values: ``Failed(retryable=True)`` when the database was busy or
unreachable, ``Failed(retryable=False)`` for bytes that are not a ``RunOperation``.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

from google.protobuf.message import DecodeError
from neptune_scale.transport import Failed, IngestIssue, Processed, Submitted

from despina.store._errors import StoreError, StoreNotFound
from despina.store._operation import parse_operation
from despina.store._store import Store, open_store

__all__ = ["LocalTransport"]


class LocalTransport:
    """Applies operations to ``open_store(log_directory)``; one instance per process.
    ``log_directory`` may also be any store location (``sqlite:///…``, ``postgresql://…``),
    kept as given (a ``Path`` would fold the ``//`` of a URL)."""

    @staticmethod
    def list_projects(log_directory: Path) -> list[str]:
        """Sorted names of the projects in the store in ``log_directory`` ([] when there is
        none), read as every reader does (delivering logs of killed runs first); what
        ``neptune_scale.list_projects()`` answers without a token."""
        from despina.query import Reader  # deferred: the query package builds on this one

        try:
            with Reader(log_directory) as reader:
                return sorted(reader.list_projects())
        except StoreNotFound:
            return []

    def __init__(self, log_directory: Path | str) -> None:
        self.log_directory = Path(log_directory)
        self._location = log_directory
        self._store: Store | None = None
        self._lock = threading.Lock()
        self._open_lock = threading.Lock()  # uploads open the store outside ``_lock``
        self._results: dict[str, tuple[IngestIssue, ...]] = {}

    def _opened(self) -> Store:
        store = self._store
        if store is None:
            with self._open_lock:  # several upload slots may be the first to need it
                if self._store is None:
                    self._store = open_store(self._location)
                store = self._store
        return store

    def submit(self, project: str, run_id: str, operation: bytes) -> Submitted | Failed:
        try:
            message = parse_operation(operation)
            with self._lock:
                (issues,) = self._opened().apply([message])
        except DecodeError as error:  # the envelope, or a batch checked only when decoded
            return Failed(ValueError(f"not a RunOperation: {error}"), retryable=False)
        except (sqlite3.OperationalError, OSError) as error:
            return Failed(error, retryable=True)  # busy beyond the timeout, disk full, …
        except StoreError as error:
            return Failed(error, retryable=False)
        request_id = uuid.uuid4().hex
        with self._lock:
            self._results[request_id] = issues
        return Submitted(request_id)

    def check(self, project: str, request_ids: Sequence[str]) -> list[Processed | None] | Failed:
        with self._lock:
            # Unknown ids were not issued by this process; they carry nothing to report.
            return [Processed(self._results.pop(rid, ())) for rid in request_ids]

    def upload_file(
        self, project: str, destination: str, source: Path, mime_type: str
    ) -> Failed | None:
        try:
            self._opened().put_file(project, destination, Path(source))
        except ValueError as error:
            return Failed(error, retryable=False)
        except FileNotFoundError as error:
            return Failed(error, retryable=False)
        except OSError as error:
            return Failed(error, retryable=True)
        return None

    def close(self) -> None:
        with self._lock, self._open_lock:
            if self._store is not None:
                self._store.close()
            self._store = None
