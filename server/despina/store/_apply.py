"""The single write path: one ``RunOperation`` at a time, inside the caller's transaction."""

from __future__ import annotations

import time
from collections.abc import Sequence

from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2
from neptune_scale.transport import IngestIssue

from despina.store import _model as m
from despina.store._create import create_run, project_key
from despina.store._decode import DecodedUpdate, decode_update
from despina.store._engine import Tx
from despina.store._issues import Issues
from despina.store._operation import RawBatchOperation, check_batch
from despina.store._rules import MAX_PROJECT_NAME_BYTES, NUL
from despina.store._slices import slice_update
from despina.store._update import update_run

__all__ = ["apply_operation", "check_project_name", "lands_nowhere", "plan_operation"]

# Answers after which no later slice of the same operation can land anywhere.
_NOWHERE_TO_LAND = frozenset(
    {IngestCode.PROJECT_INVALID_NAME, IngestCode.PROJECT_NOT_FOUND, IngestCode.RUN_NOT_FOUND}
)

_MS_PER_S = 1000


def check_project_name(name: str) -> str | None:
    """Why ``name`` is not a valid ``workspace/project``, or None."""
    size = len(name.encode("utf-8"))
    if size > MAX_PROJECT_NAME_BYTES:
        return f"project name is {size} bytes long; the limit is {MAX_PROJECT_NAME_BYTES}"
    parts = name.split("/")
    if len(parts) != 2 or not all(parts):
        return f"project {name!r} must be 'workspace/project' (two non-empty parts)"
    if any(p in (".", "..") or "\\" in p or NUL in p for p in parts):
        return f"project {name!r} has a part that cannot name a folder"
    return None


def _project(tx: Tx, name: str, create_projects: bool, issues: Issues) -> m.ProjectRow | None:
    problem = check_project_name(name)
    if problem is not None:
        issues.add(IngestCode.PROJECT_INVALID_NAME, "", problem)
        return None
    project = tx.project(name)
    if project is None:
        if not create_projects:
            issues.add(
                IngestCode.PROJECT_NOT_FOUND,
                "",
                f"project {name} does not exist and this store does not create projects",
            )
            return None
        project = tx.insert_project(name, project_key(name))
    return project


def plan_operation(
    operation: ingest_pb2.RunOperation | RawBatchOperation,
) -> Sequence[DecodedUpdate | None]:
    """What to apply, decoded before any write lock is taken: an update's slices
    (``_slices``), or ``[None]`` for anything else. Raises ``DecodeError`` for a malformed batch."""
    if isinstance(operation, RawBatchOperation) or operation.WhichOneof("operation") in (
        "update",
        "update_batch",
    ):
        return slice_update(decode_update(operation))
    return [None]


def lands_nowhere(issues: tuple[IngestIssue, ...]) -> bool:
    """True when ``issues`` say the operation's project or run does not exist."""
    return any(issue.code in _NOWHERE_TO_LAND for issue in issues)


def apply_operation(
    tx: Tx,
    operation: ingest_pb2.RunOperation | RawBatchOperation,
    *,
    create_projects: bool,
    update: DecodedUpdate | None = None,
) -> tuple[IngestIssue, ...]:
    """Apply ``operation`` (its update already decoded, or one slice of it, when given)."""
    issues = Issues()
    now_ms = int(time.time() * _MS_PER_S)
    project = _project(tx, operation.project, create_projects, issues)
    if project is None:
        check_batch(operation)
        return issues.result()
    if isinstance(operation, RawBatchOperation):
        _update(tx, project, operation, update, now_ms, issues)
        return issues.result()
    kind = operation.WhichOneof("operation")
    if kind == "create":
        create_run(tx, project, operation.run_id, operation.create, now_ms, issues)
    elif kind in ("update", "update_batch"):
        _update(tx, project, operation, update, now_ms, issues)
    else:
        issues.add(
            IngestCode.FIELD_TYPE_UNSUPPORTED, "", "the operation carries neither create nor update"
        )
    return issues.result()


def _update(
    tx: Tx,
    project: m.ProjectRow,
    operation: ingest_pb2.RunOperation | RawBatchOperation,
    update: DecodedUpdate | None,
    now_ms: int,
    issues: Issues,
) -> None:
    # A run id with NUL names no run (creating one is refused), on every engine alike: a SQLite
    # store written by an older version may hold one, a PostgreSQL store cannot.
    run = None if NUL in operation.run_id else tx.run(project.pk, operation.run_id)
    if run is None:
        check_batch(operation)
        issues.add(
            IngestCode.RUN_NOT_FOUND,
            "",
            f"run {operation.run_id!r} does not exist in {project.name}",
        )
    else:
        decoded = update if update is not None else decode_update(operation)
        update_run(tx, run, decoded, now_ms, issues)
