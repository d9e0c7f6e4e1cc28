"""Ingestion endpoints (protocol §2, checklist W1–W2, plus ``ingest/checkDetails``).

``/ingest`` applies the ``RunOperation`` through ``Store.apply`` and answers only once the data
is durable, so ``/ingest/check`` always has the final word and never answers "pending". Like the
local transport, it hands the store an ``update_batch`` still serialized (``parse_operation``):
the store decodes it once, in bulk, instead of the route parsing every snapshot and the store
serializing them again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import APIRouter, Query, Request, Response
from google.protobuf.message import DecodeError, Message
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode
from neptune_api.proto.neptune_pb.ingest.v1.pub.client_pb2 import (
    BulkCheckDetail,
    BulkIngestResultDetail,
    BulkRequestStatus,
    RequestIdList,
    SubmitResponse,
)
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation
from neptune_scale.transport import IngestIssue
from starlette.concurrency import run_in_threadpool

from despina.api._context import (
    ServerContext,
    bearer_grant,
    context_of,
    read_body,
    reject,
    require_project,
)
from despina.api._statuses import new_request_id, status_message
from despina.store import RawBatchOperation, check_batch, parse_operation

__all__ = ["router"]

log = logging.getLogger(__name__)
router = APIRouter()

PROTOBUF = "application/x-protobuf"
MAX_CHECK_IDS = 1000
MAX_CHECK_BODY_BYTES = 1024 * 1024
DEFAULT_DETAILS_LIMIT = 1000
STORE_FAILURE_RETRY_AFTER_S = 1  # a locked or restarting database usually recovers this fast
_NOT_AN_OPERATION = "the request body is not a serialized neptune.ingest.v1.pub.RunOperation"


def _parse(message: Message, body: bytes, name: str) -> None:
    try:
        message.ParseFromString(body)
    except DecodeError:
        reject(400, f"the request body is not a serialized {name}")


def _protobuf(message: Message) -> Response:
    return Response(content=message.SerializeToString(), media_type=PROTOBUF)


def _project_name_issue(project: str) -> IngestIssue | None:
    workspace, sep, name = project.partition("/")
    if sep and workspace and name and "/" not in name:
        return None
    return IngestIssue(
        int(IngestCode.PROJECT_INVALID_NAME),
        "",
        f"project {project!r} must have the form 'workspace/project'",
    )


def _require_protobuf(request: Request) -> None:
    """415 unless the body is declared as the official clients (and ours) declare it: a body
    sent as text, JSON or a form was not meant for this endpoint, whatever its bytes parse as."""
    declared = request.headers.get("content-type", "")
    if declared.split(";", 1)[0].strip().lower() != PROTOBUF:
        reject(
            415,
            f"Content-Type {declared!r} is not accepted; /ingest takes {PROTOBUF} "
            "(a serialized neptune.ingest.v1.pub.RunOperation)",
        )


def _operation(body: bytes) -> RunOperation | RawBatchOperation:
    """The body as the store takes it: an ``update_batch`` stays serialized until the store
    decodes it (checked there: a malformed one raises ``DecodeError`` and stores nothing)."""
    try:
        operation = parse_operation(body)
    except DecodeError:
        reject(400, _NOT_AN_OPERATION)
    if isinstance(operation, RunOperation) and operation.WhichOneof("operation") is None:
        reject(400, "the RunOperation carries none of 'create', 'update' or 'update_batch'")
    return operation


def _create_missing_project(operation: RunOperation | RawBatchOperation) -> bool | None:
    if isinstance(operation, RawBatchOperation):
        return operation.create_missing_project
    return (
        operation.create_missing_project if operation.HasField("create_missing_project") else None
    )


def _apply(
    ctx: ServerContext, operation: RunOperation | RawBatchOperation, create_projects: bool
) -> tuple[IngestIssue, ...]:
    # Writers are serialized per transaction by the store's engine (in turns, so the slices of a
    # big operation let other requests in), not here for the whole operation.
    store = ctx.store if create_projects else ctx.store_no_create
    return tuple(store.apply([operation])[0])


@router.post("/api/client/v1/ingest")
async def ingest(request: Request) -> Response:
    """W1: one ``RunOperation`` in, ``SubmitResponse{request_id, request_ids=[request_id]}`` out."""
    grant = await bearer_grant(request)
    _require_protobuf(request)
    ctx = context_of(request)
    body = await read_body(request, ctx.settings.max_ingest_body_bytes)
    operation = _operation(body)
    name_issue = _project_name_issue(operation.project)
    if name_issue is not None:
        try:
            check_batch(operation)  # a malformed body is reported as such first
        except DecodeError:
            reject(400, _NOT_AN_OPERATION)
        issues: Sequence[IngestIssue] = (name_issue,)
    else:
        require_project(grant, operation.project)
        allowed = grant.can_create_projects
        wanted = _create_missing_project(operation)
        if wanted is not None:
            allowed = allowed and wanted
        try:
            issues = await run_in_threadpool(_apply, ctx, operation, allowed)
        except DecodeError:
            reject(400, _NOT_AN_OPERATION)  # the batch, decoded only now; nothing was stored
        except Exception:
            # Logged without the body: it is user data. 500 makes every client retry.
            log.exception("applying a RunOperation for %s failed", operation.project)
            reject(
                500,
                "the store failed to apply the operation; retry later",
                {"Retry-After": str(STORE_FAILURE_RETRY_AFTER_S)},
            )
    request_id = new_request_id()
    if issues:
        # A clean request needs no row: /ingest/check answers OK for ids it does not hold
        # (every id is final when issued), which saves a durable write per request.
        await run_in_threadpool(ctx.statuses.record, request_id, operation.project, issues)
    return _protobuf(SubmitResponse(request_id=request_id, request_ids=[request_id]))


async def _request_ids(request: Request, project: str) -> list[str]:
    require_project(await bearer_grant(request), project)
    body = await read_body(request, MAX_CHECK_BODY_BYTES)
    ids = RequestIdList()
    _parse(ids, body, "neptune.ingest.v1.pub.RequestIdList")
    if len(ids.ids) > MAX_CHECK_IDS:
        reject(400, f"'ids' holds {len(ids.ids)} request ids; the limit is {MAX_CHECK_IDS}")
    return [i.value for i in ids.ids]


@router.post("/api/client/v1/ingest/check")
async def check(request: Request, project: str = Query(alias="projectIdentifier")) -> Response:
    """W2: one ``RequestStatus`` per requested id, in order.

    Only requests with issues are recorded, so an id without a row reads as OK: every id we
    hand out is final when handed out, so an unknown one cannot be in flight (and UNAVAILABLE
    would mean "poll forever" to the official client).
    """
    request_ids = await _request_ids(request, project)
    found = await run_in_threadpool(context_of(request).statuses.lookup, project, request_ids)
    response = BulkRequestStatus()
    for request_id in request_ids:
        response.statuses.append(status_message(found.get(request_id, [])))
    return _protobuf(response)


@router.post("/api/client/v1/ingest/checkDetails")
async def check_details(
    request: Request, project: str | None = Query(default=None, alias="projectIdentifier")
) -> Response:
    """Per-path messages of earlier requests: ``BulkIngestResultDetail``, paged by cursor."""
    body = await read_body(request, MAX_CHECK_BODY_BYTES)
    query = BulkCheckDetail()
    _parse(query, body, "neptune.ingest.v1.pub.BulkCheckDetail")
    project = project or query.project
    require_project(await bearer_grant(request), project)
    if len(query.ids) > MAX_CHECK_IDS:
        reject(400, f"'ids' holds {len(query.ids)} request ids; the limit is {MAX_CHECK_IDS}")
    start = _cursor(query.next_cursor) if query.HasField("next_cursor") else 0
    limit = query.limit if query.HasField("limit") and query.limit > 0 else DEFAULT_DETAILS_LIMIT
    request_ids = [i.value for i in query.ids]
    found = await run_in_threadpool(context_of(request).statuses.lookup, project, request_ids)
    details = [(rid, issue) for rid in request_ids for issue in found.get(rid, [])]
    response = BulkIngestResultDetail()
    for request_id, issue in details[start : start + limit]:
        entry = response.details.add(path=issue.path, ingest_code=issue.code)
        entry.request_id.value = request_id
        entry.error_detail = issue.message
    if start + limit < len(details):
        response.next_cursor = str(start + limit)
    return _protobuf(response)


def _cursor(text: str) -> int:
    if not text.isdigit():
        reject(400, f"'next_cursor' {text!r} is not a cursor this server returned")
    return int(text)
