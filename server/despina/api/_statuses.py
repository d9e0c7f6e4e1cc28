"""Request statuses: what each ``/ingest`` request came to, kept in the database.

Ingestion is synchronous (a request is answered once its data is durable), so a status is final
when it is written: ``/ingest/check`` never has to say "pending" (gRPC UNAVAILABLE), which the
official client would poll forever on a permanent failure.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Sequence

from neptune_api.proto.google_rpc.code_pb2 import Code
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode
from neptune_api.proto.neptune_pb.ingest.v1.pub.request_status_pb2 import RequestStatus
from neptune_scale.transport import IngestIssue

from despina.auth import ServerDatabase

__all__ = ["StatusBook", "grpc_code_for", "new_request_id", "status_message"]

# One insert in this many also sweeps statuses older than the retention period.
SWEEP_ONE_IN = 500

_NOT_FOUND = {
    IngestCode.PROJECT_NOT_FOUND,
    IngestCode.RUN_NOT_FOUND,
    IngestCode.RUN_FORK_PARENT_NOT_FOUND,
}
_ALREADY_EXISTS = {IngestCode.RUN_DUPLICATE, IngestCode.SERIES_POINT_DUPLICATE}
_FAILED_PRECONDITION = {
    IngestCode.RUN_CONFLICTING,
    IngestCode.FIELD_TYPE_CONFLICTING,
    IngestCode.SERIES_STEP_NON_INCREASING,
    IngestCode.SERIES_STEP_NOT_AFTER_FORK_POINT,
    IngestCode.SERIES_TIMESTAMP_DECREASING,
    IngestCode.SERIES_PREVIEW_STEP_NOT_AFTER_LAST_COMMITTED_STEP,
}


def grpc_code_for(ingest_code: int) -> int:
    """The google.rpc code reported beside an ingest code (never OK, never UNAVAILABLE)."""
    if ingest_code in _NOT_FOUND:
        return int(Code.NOT_FOUND)
    if ingest_code in _ALREADY_EXISTS:
        return int(Code.ALREADY_EXISTS)
    if ingest_code in _FAILED_PRECONDITION:
        return int(Code.FAILED_PRECONDITION)
    if ingest_code == IngestCode.INTERNAL:
        return int(Code.INTERNAL)
    return int(Code.INVALID_ARGUMENT)


def _project_key(project: str) -> str:
    """``project`` as the status table keeps it. A project name with NUL is refused at ingest
    (PROJECT_INVALID_NAME), but that answer must still be recorded and found, and PostgreSQL
    text cannot hold NUL: it is spelled ``\\0`` (no valid project holds a backslash)."""
    return project.replace("\x00", "\\0")


def new_request_id() -> str:
    return uuid.uuid4().hex


def status_message(issues: Sequence[IngestIssue]) -> RequestStatus:
    """One ``RequestStatus``: a CodeByCount per ingest code (summed counts); empty = all OK."""
    status = RequestStatus()
    totals: dict[int, int] = {}
    for issue in issues:
        # An unset ingest code would read as "Unexpected ingestion error code: 0" on the client.
        code = issue.code or int(IngestCode.INTERNAL)
        totals[code] = totals.get(code, 0) + max(issue.count, 1)
    for code, count in totals.items():
        status.code_by_count.add(code=grpc_code_for(code), count=count, detail=code)
    messages = [i.message for i in issues if i.message]
    if messages:
        status.shared_error_message = messages[0]
    return status


class StatusBook:
    """Stores and reads request statuses (request id → issues) for every server process.

    Only requests that had issues are stored; the others read as OK.
    """

    def __init__(self, db: ServerDatabase, retention_s: float) -> None:
        self._db = db
        self._retention_s = retention_s

    def record(self, request_id: str, project: str, issues: Sequence[IngestIssue]) -> None:
        payload = json.dumps([[i.code, i.path, i.message, i.count] for i in issues])
        now = time.time()
        with self._db.transaction() as tx:
            tx.execute(
                "INSERT INTO despina_srv_request_status (request_id, project, created_at, issues) "
                "VALUES (?, ?, ?, ?)",
                (request_id, _project_key(project), now, payload),
            )
            if random.randrange(SWEEP_ONE_IN) == 0:
                tx.execute(
                    "DELETE FROM despina_srv_request_status WHERE created_at < ?",
                    (now - self._retention_s,),
                )

    def lookup(self, project: str, request_ids: Sequence[str]) -> dict[str, list[IngestIssue]]:
        """Issues of the given requests of ``project``; ids not found are absent."""
        found: dict[str, list[IngestIssue]] = {}
        # Ids with NUL were never issued (ours are hex) and PostgreSQL could not compare them.
        unique = [rid for rid in dict.fromkeys(request_ids) if "\x00" not in rid]
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = self._db.query(
                "SELECT request_id, issues FROM despina_srv_request_status "
                f"WHERE project = ? AND request_id IN ({marks})",
                (_project_key(project), *chunk),
            )
            for request_id, payload in rows:
                rows_of_issue = json.loads(payload)
                found[str(request_id)] = [
                    IngestIssue(int(c), str(p), str(m), int(n)) for c, p, m, n in rows_of_issue
                ]
        return found
