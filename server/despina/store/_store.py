"""``open_store`` and :class:`Store`: one write path (``apply``), files, and read access."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2
from neptune_scale.transport import IngestIssue

from despina.store._apply import apply_operation, lands_nowhere, plan_operation
from despina.store._compact import CompactReport, compact_chunks
from despina.store._decode import DecodedUpdate
from despina.store._engine import Engine
from despina.store._engines.sqlite import DATABASE_FILE, SQLiteEngine
from despina.store._errors import StoreNotFound
from despina.store._files import FileArea, LocalFiles
from despina.store._issues import Issues
from despina.store._operation import RawBatchOperation
from despina.store._slices import SLICE_PAUSE_S

__all__ = ["Store", "open_file_area", "open_store"]

FILES_FOLDER = "files"
# Where a PostgreSQL-backed store keeps file bytes: s3://bucket/prefix or a folder shared by
# every server process; the older DESPINA_FILES_DIR (a folder) is read when it is unset.
FILES_ENV = "DESPINA_FILES"
FILES_DIR_ENV = "DESPINA_FILES_DIR"
_SQLITE_PREFIX = "sqlite:///"
S3_SCHEME = "s3://"
_POSTGRES_PREFIXES = ("postgresql://", "postgres://")


class Store:
    """A store: an engine for rows and a file area (folder or bucket) for file bytes.

    ``create_projects`` False makes an update for an unknown project fail with PROJECT_NOT_FOUND
    instead of creating it (the embedded store creates projects on first use).
    """

    def __init__(self, engine: Engine, files: FileArea, *, create_projects: bool = True) -> None:
        self.engine = engine
        self.files = files
        self.create_projects = create_projects
        # Snapshots (a step's points, or a config/tag update) applied so far: the server's
        # ingest rate on /metrics. Counted under a lock: several request threads apply at once.
        self.snapshots_applied = 0
        self._count_lock = threading.Lock()

    def apply(
        self, operations: Sequence[ingest_pb2.RunOperation | RawBatchOperation]
    ) -> list[tuple[IngestIssue, ...]]:
        """Apply operations in order, in one transaction (but see below); durable on return.

        Returns one tuple of issues per operation (empty = everything stored). Raises only when
        the database itself fails, or with ``DecodeError`` when the still serialized batch of a
        ``RawBatchOperation`` (from ``_operation.parse_operation``) is malformed; then nothing of
        the call is stored. Updates are decoded before the write lock is taken. An update too
        big for one short transaction (``_slices``) is applied in slices, one transaction each,
        so other writers are not held for seconds; then every operation of the call gets
        transactions of its own.
        """
        plans = [(op, plan_operation(op)) for op in operations]
        create = self.create_projects
        if all(len(parts) == 1 for _, parts in plans):
            with self.engine.write() as tx:
                results = [
                    apply_operation(tx, op, create_projects=create, update=parts[0])
                    for op, parts in plans
                ]
        else:
            results = [self._apply_in_slices(op, parts) for op, parts in plans]
        count = sum(len(part) for _, parts in plans for part in parts if part is not None)
        with self._count_lock:
            self.snapshots_applied += count
        return results

    def _apply_in_slices(
        self,
        operation: ingest_pb2.RunOperation | RawBatchOperation,
        parts: Sequence[DecodedUpdate | None],
    ) -> tuple[IngestIssue, ...]:
        issues = Issues()
        for i, part in enumerate(parts):
            if i:
                time.sleep(SLICE_PAUSE_S)  # let a writer that waits for the lock have its turn
            with self.engine.write() as tx:
                found = apply_operation(
                    tx, operation, create_projects=self.create_projects, update=part
                )
            issues.extend(found)
            if lands_nowhere(found):
                break
        return issues.result()

    def put_file(self, project: str, destination: str, data: bytes | Path | BinaryIO) -> str:
        """Store file bytes under ``destination`` (relative to the project); returns the MD5 etag.

        Raises ValueError for a destination that is empty, longer than 1,024 characters or leaves
        the project folder.
        """
        return self.files.put(project, destination, data)

    def open_file(self, project: str, destination: str) -> BinaryIO:
        """The stored bytes; raises StoredFileNotFound when nothing was stored there."""
        return self.files.open(project, destination)

    def compact(
        self, *, progress: Callable[[int], None] | None = None, reclaim: bool = True
    ) -> CompactReport:
        """Rewrite float chunks an older despina stored raw in the compact form (``_compact``)."""
        return compact_chunks(self.engine, progress=progress, reclaim=reclaim)

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _postgres(url: str, create: bool, migrate: bool) -> Store:
    # imported here: psycopg is an optional extra
    from despina.store._engines import postgres as _postgres

    files = os.environ.get(FILES_ENV) or os.environ.get(FILES_DIR_ENV)
    if not files:
        raise StoreNotFound(
            f"a PostgreSQL store needs ${FILES_ENV} (or ${FILES_DIR_ENV}): where file bytes "
            "live, s3://bucket/prefix or a folder every server process shares"
        )
    area = open_file_area(files)
    engine: Engine = _postgres.PostgresEngine(url, create=create, migrate=migrate)
    return Store(engine, area)


def open_store(
    location: str | os.PathLike[str], *, create: bool = True, migrate: bool = False
) -> Store:
    """Open the store at ``location``: a folder, ``sqlite:///folder`` or ``postgresql://…``.

    A SQLite store upgrades its schema on open; a PostgreSQL one at an older schema version only
    with ``migrate`` (``despina migrate``), else SchemaVersionError names that command.

    A folder holds ``despina.sqlite3`` and ``files/``. With ``create`` False a missing store
    raises StoreNotFound and nothing is created (readers use that). Other errors: StoreCorrupt,
    SchemaVersionError.
    """
    text = os.fspath(location)
    if text.startswith(_POSTGRES_PREFIXES):
        return _postgres(text, create, migrate)
    if text.startswith(_SQLITE_PREFIX):
        text = text[len(_SQLITE_PREFIX) - 1 :]  # keep the leading "/" of an absolute path
    folder = Path(text).expanduser()
    if folder.suffix == ".sqlite3" and folder.is_file():
        folder = folder.parent
    if not create and not (folder / DATABASE_FILE).is_file():
        raise StoreNotFound(f"no despina store at {folder} ({DATABASE_FILE} is missing)")
    engine = SQLiteEngine(folder / DATABASE_FILE, create=create)
    return Store(engine, LocalFiles(folder / FILES_FOLDER))


def open_file_area(spec: str | os.PathLike[str]) -> FileArea:
    """``s3://bucket[/prefix]`` (credentials and endpoint from the AWS environment) or a folder."""
    text = os.fspath(spec)
    if text.startswith(S3_SCHEME):
        from despina.store._files_s3 import S3Files  # boto3 is needed only for a bucket

        return S3Files.from_url(text)
    return LocalFiles(Path(text).expanduser())
