"""Run folders on disk, for tools outside the client: find, inspect, write and deliver them.

A run folder (``<log_directory>/runs/<run>``) is where the client keeps a run's operations until
they are delivered: offline runs, killed processes, interrupted closes. ``neptune sync`` and
``despina sync`` deliver them with :func:`sync_run`; the embedded store delivers logs left
behind with :func:`run_identity`, :func:`run_destination` and :func:`writer_alive`; a tool
bringing operations from elsewhere (the official client's ``run_operations.sqlite3``) writes a
run folder with :class:`RunFolderWriter`, and the usual sender delivers it.

The folder's format stays the client's own: this module is the only door to it, so the client
may change its layout without breaking its users.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any

from neptune_api.proto.neptune_pb.ingest.v1.common_pb2 import UpdateRunSnapshot, UpdateRunSnapshots

from neptune_scale import _oplog
from neptune_scale._pipeline import read_destination, writer_alive
from neptune_scale._sync import find_run_folders, sync_run

__all__ = [
    "RunFolderWriter",
    "find_run_folders",
    "is_run_folder",
    "run_destination",
    "run_identity",
    "sync_run",
    "writer_alive",
]


def is_run_folder(folder: Path) -> bool:
    """True when ``folder`` holds a run's identity (its ``meta.json``)."""
    return _oplog.has_meta(folder)


def run_identity(folder: Path) -> dict[str, Any]:
    """The run's identity: at least ``project`` and ``run_id``. Raises OSError / ValueError
    when the folder is not a readable run folder."""
    return _oplog.read_meta(folder)


def run_destination(folder: Path) -> str | None:
    """Where the run's writer sent its operations (``"http"``, ``"local"``, ``"injected"``), or
    None when the folder does not say (an older client, or no run folder)."""
    return read_destination(folder)


class RunFolderWriter:
    """Writes a new run folder from serialized ingest messages, in the order given.

    ``create_run`` takes a serialized ``neptune.ingest.v1.Run``, ``update`` a serialized
    ``UpdateRunSnapshot``, ``upload`` a pending file upload. :meth:`finish` writes everything
    out and raises OSError when the disk had no room for all of it (the folder is then partial:
    the caller removes it). Use as a context manager, or call :meth:`finish` yourself.
    """

    def __init__(self, folder: Path, project: str, run_id: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._project = project
        self._run_id = run_id
        # The writer writes the run's identity (meta.json and its copy) when the disk has room.
        self._writer = _oplog.LogWriter(folder, 0, 0, meta=(project, run_id, None))
        self._open = True

    def create_run(self, run: bytes) -> None:
        self._writer.keep_identity(self._project, self._run_id, run)  # a copy for recovery
        self._writer.append(_oplog.KIND_CREATE, run)

    def update(self, snapshot: bytes) -> None:
        # The log keeps a snapshot framed as an UpdateRunSnapshots entry.
        framed = UpdateRunSnapshots(snapshots=[UpdateRunSnapshot.FromString(snapshot)])
        self._writer.append(_oplog.KIND_SNAPSHOT, framed.SerializeToString())

    def upload(
        self, source: str, destination: str, mime_type: str, *, temporary: bool = False
    ) -> None:
        """A file to upload as ``destination``; ``temporary``: delete ``source`` once sent."""
        request = {
            "source": source,
            "destination": destination,
            "mime_type": mime_type,
            "temporary": temporary,
        }
        self._writer.append(_oplog.KIND_FILE, json.dumps(request).encode("utf-8"))

    def finish(self) -> None:
        """Flush and close; OSError when operations were lost to a full disk."""
        if not self._open:
            return
        self._open = False
        try:
            self._writer.flush()
        finally:
            self._writer.close()
        if self._writer.dropped:
            raise OSError(f"no room on the disk to write the run folder {self.folder}")

    def __enter__(self) -> RunFolderWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is None:
            self.finish()
            return
        self._open = False
        self._writer.close()  # the caller's error wins; the partial folder is theirs to remove
