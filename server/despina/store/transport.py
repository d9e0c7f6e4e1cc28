"""``LocalTransport``: the client's transport into the embedded store, without a server.

Found by the client through the ``neptune_scale.transports`` entry point named ``local``.
``submit`` parses the operation (an ``update_batch`` stays serialized until the store decodes it,
see ``_operation``) and applies it synchronously (durable on return), remembering the
issues under a fresh request id; ``check`` answers ``Processed(issues)`` for every id it issued.
Problems come back as values: ``Failed(retryable=True)`` when the database was busy or
unreachable, ``Failed(retryable=False)`` for bytes that are not a ``RunOperation``.

Run logs that processes left behind in a store folder are delivered when the store is opened.
A training process killed with SIGKILL leaves the points it acknowledged in its operation log
(``<folder>/runs/<run>/``) until a run with the same id is reopened. Opening the embedded store
(``despina.query.Reader``, ``despina ls/show/export``, ``despina ui``,
``neptune_scale.list_projects()``) delivers first every log meant for that store (its
``destination`` file says ``local``) whose writer is gone, through ``sync_run`` with this
transport, as ``despina sync`` does; so what a peer tracker shows at once, we show too. It lives
beside the transport it delivers through so that the store never imports the query package
(which builds on the store).

The log's lock decides: a live writer holds it, so its log is never touched; ``sync_run`` holds
it while delivering, so two readers never deliver the same log. The time spent is bounded; what
is left (no time, or logs of offline runs) is counted for a message naming ``despina sync``.
When nothing was left behind this costs one directory listing.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import DecodeError
from neptune_scale.transport import Failed, IngestIssue, Processed, Submitted

from despina.store._errors import StoreError, StoreNotFound
from despina.store._operation import parse_operation
from despina.store._store import Store, open_store

__all__ = ["DELIVER_BUDGET_S", "LocalTransport", "Pending", "deliver_left_behind", "local_folder"]

logger = logging.getLogger("despina")

DELIVER_BUDGET_S = 10.0  # what opening a store may spend delivering before it says what is left
_SQLITE_PREFIX = "sqlite:///"


class LocalTransport:
    """Applies operations to ``open_store(log_directory)``; one instance per process.
    ``log_directory`` may also be any store location (``sqlite:///…``, ``postgresql://…``),
    kept as given (a ``Path`` would fold the ``//`` of a URL)."""

    @staticmethod
    def list_projects(log_directory: Path) -> list[str]:
        """Sorted names of the projects in the store in ``log_directory`` ([] when there is
        none), read as every reader does (delivering logs of killed runs first); what
        ``neptune_scale.list_projects()`` answers without a token."""
        try:
            store = open_store(log_directory, create=False)
        except StoreNotFound:
            return []
        try:
            folder = local_folder(log_directory)
            if folder is not None:
                for level, text in deliver_left_behind(folder).messages():
                    logger.log(level, "%s", text)
            with store.engine.read() as tx:
                return sorted(p.name for p in tx.projects())
        finally:
            store.close()

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


@dataclass
class Pending:
    """What :func:`deliver_left_behind` did in ``folder``."""

    folder: Path
    delivered: list[str] = field(default_factory=list)  # run ids
    left: list[Path] = field(default_factory=list)  # run folders still holding undelivered data
    seconds: float = 0.0

    def messages(self) -> list[tuple[int, str]]:
        """(logging level, text) of what to tell the user."""
        lines = []
        if self.delivered:
            lines.append((
                logging.INFO,
                f"delivered the data of {_runs(len(self.delivered))} left on disk by processes "
                f"that ended ({', '.join(self.delivered[:5])}"
                f"{', …' if len(self.delivered) > 5 else ''}; {self.seconds:.1f} s)",
            ))  # fmt: skip
        if self.left:
            lines.append((
                logging.WARNING,
                f"{_runs(len(self.left))} {'has' if len(self.left) == 1 else 'have'} undelivered "
                f"data in {self.folder / 'runs'}: despina sync {self.folder}",
            ))  # fmt: skip
        return lines


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def local_folder(location: str | os.PathLike[str]) -> Path | None:
    """The folder of an embedded store location (a folder or ``sqlite:///folder``), else None."""
    text = os.fspath(location)
    if text.startswith(_SQLITE_PREFIX):
        text = text[len(_SQLITE_PREFIX) - 1 :]
    elif "://" in text:
        return None
    folder = Path(text).expanduser()
    return folder.parent if folder.suffix == ".sqlite3" else folder


def deliver_left_behind(folder: Path, budget_s: float | None = DELIVER_BUDGET_S) -> Pending:
    """Deliver the logs in ``folder/runs`` meant for this store whose writer is gone, within
    ``budget_s`` seconds (None: no limit)."""
    found = Pending(folder)
    try:
        names = sorted(os.listdir(folder / "runs"))
    except OSError:
        return found  # no client logs here
    if not names:
        return found
    from neptune_scale.sync import is_run_folder, run_destination, writer_alive

    start = time.monotonic()
    deadline = None if budget_s is None else start + budget_s
    for name in names:
        run = folder / "runs" / name
        destination = run_destination(run)
        if destination in ("http", "injected") or not is_run_folder(run):
            continue  # another destination's data, or not a run log
        if writer_alive(run):
            continue
        left = deadline is not None and time.monotonic() >= deadline
        if destination != "local" or left or not _deliver(folder, run, deadline, found):
            found.left.append(run)
    found.seconds = time.monotonic() - start
    return found


def _deliver(folder: Path, run: Path, deadline: float | None, found: Pending) -> bool:
    """True when everything in ``run`` was delivered (or a process took it meanwhile)."""
    from neptune_scale.sync import run_identity, sync_run

    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        run_id = str(run_identity(run)["run_id"])
        complete = sync_run(run, transport=LocalTransport(folder), timeout=timeout, progress=False)
    except (RuntimeError, FileNotFoundError):
        return True  # a process took it since we looked (or delivered and removed it)
    except Exception as error:  # reading must go on; the log stays for `despina sync`
        logger.warning("Could not deliver the run log %s: %s", run, error)
        return False
    if complete:
        found.delivered.append(run_id)
    return complete
