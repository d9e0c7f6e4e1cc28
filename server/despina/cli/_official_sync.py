"""Runs of the *official* client (``run_operations.sqlite3``, protocol §6.2) as run folders of ours.

The official database holds serialized ``neptune.ingest.v1.Run`` (operation_type 1) and
``UpdateRunSnapshot`` (type 0) messages in sequence order, plus pending file uploads. They are
copied, unchanged, into a run folder of our client (``<db folder>/despina-sync/runs/<run>``)
whose sender then delivers them with the usual retries and progress bar. After a complete
delivery the official database is emptied the way the official ``neptune sync`` leaves it.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from neptune_scale.sync import RunFolderWriter

__all__ = ["convert_official", "find_official_databases", "mark_delivered"]

DATABASE_NAME = "run_operations.sqlite3"
ACCEPTED_VERSIONS = ("v5",)
OPERATION_SNAPSHOT = 0
OPERATION_CREATE = 1
WORK_FOLDER = "despina-sync"


def _is_official(path: Path) -> bool:
    if not path.is_file() or path.suffix != ".sqlite3":
        return False
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT version FROM metadata LIMIT 1").fetchone()
    except sqlite3.DatabaseError:
        return False
    return row is not None and row[0] in ACCEPTED_VERSIONS


def find_official_databases(path: Path) -> list[Path]:
    """Official databases at ``path``: the file itself, a run directory, or a log directory."""
    if path.is_file():
        return [path] if _is_official(path) else []
    candidates = [path / DATABASE_NAME, *sorted(path.glob(f"*/{DATABASE_NAME}"))]
    return [c for c in candidates if _is_official(c)]


def convert_official(database: Path) -> Path | None:
    """Copy pending operations and uploads into a fresh run folder; None if nothing is pending."""
    with closing(sqlite3.connect(database)) as conn:
        project, run_id = conn.execute("SELECT project, run_id FROM metadata").fetchone()
        operations = conn.execute(
            "SELECT operation_type, operation FROM run_operations ORDER BY sequence_id"
        ).fetchall()
        uploads = conn.execute(
            "SELECT source_path, destination, mime_type, is_temporary FROM file_upload_requests "
            "ORDER BY id"
        ).fetchall()
    if not operations and not uploads:
        return None
    folder = database.parent / WORK_FOLDER / "runs" / database.parent.name
    shutil.rmtree(folder, ignore_errors=True)  # a previous attempt: start again from the source
    try:
        with RunFolderWriter(folder, project, run_id) as writer:
            for kind, payload in operations:
                if kind == OPERATION_CREATE:
                    writer.create_run(payload)
                elif kind == OPERATION_SNAPSHOT:
                    writer.update(payload)
                else:
                    raise ValueError(f"{database}: unknown operation_type {kind}")
            # The official client's temporary copies are its own: ours must not delete them
            # before the official database is emptied, so they are never marked temporary here.
            for source, destination, mime, _temporary in uploads:
                writer.upload(source, destination, mime)
    except OSError as error:  # e.g. a full disk: a partial copy must never mark it delivered
        shutil.rmtree(folder, ignore_errors=True)
        raise OSError(f"could not copy {database} into {folder}: {error}") from error
    return folder


def mark_delivered(database: Path, folder: Path) -> None:
    """After a complete delivery: empty the official database and drop our copy."""
    with closing(sqlite3.connect(database)) as conn, conn:
        temporary = conn.execute(
            "SELECT source_path FROM file_upload_requests WHERE is_temporary != 0"
        ).fetchall()
        conn.execute("DELETE FROM run_operations")
        conn.execute("DELETE FROM file_upload_requests")
    for (source,) in temporary:
        Path(source).unlink(missing_ok=True)
    shutil.rmtree(folder.parent.parent, ignore_errors=True)
