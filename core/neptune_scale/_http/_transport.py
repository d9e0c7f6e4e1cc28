"""The http transport: our client speaking the Neptune Scale wire protocol to a server.

One attempt per call, within one deadline (``ATTEMPT_TIMEOUT_S``) that also covers fetching an
access token. Nothing is retried here: the sender owns retries and reads ``Failed.retryable``
and ``Failed.retry_after_s`` (from ``Retry-After``). A server that is down at start-up is just a
retryable failure, so a run can start before its server does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from google.protobuf.message import DecodeError
from neptune_api.proto.google_rpc.code_pb2 import Code
from neptune_api.proto.neptune_pb.ingest.v1.pub.client_pb2 import (
    BulkCheckDetail,
    BulkIngestResultDetail,
    BulkRequestStatus,
    RequestIdList,
    SubmitResponse,
)

from neptune_scale._http._auth import Authenticator, remaining
from neptune_scale._http._errors import HttpError, raise_for
from neptune_scale.exceptions import (
    NeptuneConnectionLostError,
    NeptuneFileUploadError,
    NeptuneInvalidCredentialsError,
    NeptuneScaleError,
    NeptuneUnexpectedResponseError,
)
from neptune_scale.token import parse_api_token
from neptune_scale.transport import Failed, IngestIssue, Processed, Submitted

__all__ = ["ATTEMPT_TIMEOUT_S", "HttpTransport", "create_http_transport"]

ATTEMPT_TIMEOUT_S = 30.0
UPLOAD_TIMEOUT_S = 600.0  # a file PUT may carry gigabytes
MAX_CHECK_IDS = 1000
PROTOBUF = "application/x-protobuf"
INGEST_PATH = "/api/client/v1/ingest"
CHECK_PATH = "/api/client/v1/ingest/check"
DETAILS_PATH = "/api/client/v1/ingest/checkDetails"
SIGNED_URL_PATH = "/api/storagebridge/v1/signedUrl"
USER_AGENT = "despina-neptune-scale (http transport)"


class HttpTransport:
    """A :class:`~neptune_scale.transport.Transport` over HTTP to a Neptune Scale server."""

    def __init__(self, api_token: str, *, client: httpx.Client | None = None) -> None:
        token = parse_api_token(api_token)
        self.api_url = token.api_url
        self._client = client or httpx.Client(
            base_url=token.api_url, follow_redirects=True, headers={"User-Agent": USER_AGENT}
        )
        self._auth = Authenticator(self._client, token)

    # one attempt, as a result
    def _attempt(self, call: Any, *args: Any) -> Any:
        deadline = time.monotonic() + ATTEMPT_TIMEOUT_S
        try:
            return call(deadline, *args)
        except HttpError as exc:
            return exc.failed
        except NeptuneInvalidCredentialsError as exc:
            return Failed(error=exc, retryable=False)
        except NeptuneScaleError as exc:  # connection lost, odd answers: worth another try
            return Failed(error=exc, retryable=True)
        except httpx.HTTPError as exc:
            return Failed(NeptuneConnectionLostError(f"cannot reach {self.api_url}: {exc}"), True)
        except (DecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # An answer we cannot read (a proxy's error page, a half-compatible server): the
            # sender retries, and the user hears of it through the network-error callback.
            error = NeptuneUnexpectedResponseError(f"unreadable answer from {self.api_url}: {exc}")
            return Failed(error=error, retryable=True)

    def _post(self, deadline: float, path: str, body: bytes, **params: str) -> bytes:
        headers = {
            "Authorization": f"Bearer {self._auth.bearer(deadline)}",
            "Content-Type": PROTOBUF,
        }
        response = self._client.post(
            path, content=body, params=params, headers=headers, timeout=remaining(deadline)
        )
        if response.status_code == 401:
            self._auth.invalidate()
        raise_for(response)
        return response.content

    def submit(self, project: str, run_id: str, operation: bytes) -> Submitted | Failed:
        result: Submitted | Failed = self._attempt(self._submit, operation)
        return result

    def _submit(self, deadline: float, operation: bytes) -> Submitted:
        answer = SubmitResponse.FromString(self._post(deadline, INGEST_PATH, operation))
        ids = list(answer.request_ids) or ([answer.request_id] if answer.request_id else [])
        if not ids:
            raise NeptuneUnexpectedResponseError("the server answered /ingest without a request id")
        return Submitted(request_id=ids[-1])

    def check(self, project: str, request_ids: Sequence[str]) -> list[Processed | None] | Failed:
        result: list[Processed | None] | Failed = self._attempt(self._check, project, request_ids)
        return result

    def _check(
        self, deadline: float, project: str, request_ids: Sequence[str]
    ) -> list[Processed | None]:
        results: list[Processed | None] = []
        for start in range(0, len(request_ids), MAX_CHECK_IDS):
            chunk = list(request_ids[start : start + MAX_CHECK_IDS])
            body = RequestIdList()
            for request_id in chunk:
                body.ids.add(value=request_id)
            raw = self._post(
                deadline, CHECK_PATH, body.SerializeToString(), projectIdentifier=project
            )
            statuses = BulkRequestStatus.FromString(raw).statuses
            totals: list[dict[int, int] | None] = []
            # Missing statuses are checked again later; surplus ones are ignored.
            padded = [*list(statuses)[: len(chunk)], *[None] * (len(chunk) - len(statuses))]
            for status in padded:
                if status is None or any(c.code == Code.UNAVAILABLE for c in status.code_by_count):
                    totals.append(None)
                    continue
                counts: dict[int, int] = {}
                for entry in status.code_by_count:
                    if entry.code != Code.OK:
                        counts[entry.detail] = counts.get(entry.detail, 0) + max(entry.count, 1)
                totals.append(counts)
            results.extend(self._with_details(deadline, project, chunk, totals))
        return results

    def _with_details(
        self,
        deadline: float,
        project: str,
        ids: list[str],
        totals: list[dict[int, int] | None],
    ) -> list[Processed | None]:
        wanted = [rid for rid, counts in zip(ids, totals, strict=True) if counts]
        details = self._details(deadline, project, wanted) if wanted else {}
        out: list[Processed | None] = []
        for request_id, counts in zip(ids, totals, strict=True):
            if counts is None:
                out.append(None)
            else:
                out.append(Processed(issues=_issues(counts, details.get(request_id, []))))
        return out

    def _details(
        self, deadline: float, project: str, ids: list[str]
    ) -> dict[str, list[tuple[int, str, str]]]:
        found: dict[str, list[tuple[int, str, str]]] = {}
        cursor: str | None = None
        while True:
            query = BulkCheckDetail(project=project)
            for request_id in ids:
                query.ids.add(value=request_id)
            if cursor:
                query.next_cursor = cursor
            try:
                raw = self._post(
                    deadline, DETAILS_PATH, query.SerializeToString(), projectIdentifier=project
                )
            except HttpError as exc:
                if exc.failed.retryable:
                    raise
                return found  # a server without checkDetails: codes and counts still arrive
            answer = BulkIngestResultDetail.FromString(raw)
            for d in answer.details:
                found.setdefault(d.request_id.value, []).append(
                    (int(d.ingest_code), d.path, d.error_detail)
                )
            if not answer.next_cursor:
                return found
            cursor = answer.next_cursor

    def upload_file(
        self, project: str, destination: str, source: Path, mime_type: str
    ) -> Failed | None:
        result: Failed | None = self._attempt(self._upload, project, destination, source, mime_type)
        return result

    def _upload(
        self, deadline: float, project: str, destination: str, source: Path, mime_type: str
    ) -> None:
        try:
            size = source.stat().st_size
            body = source.open("rb")
        except OSError as exc:  # the file is gone or unreadable: trying again cannot help
            error = NeptuneFileUploadError(f"cannot read {source} for {destination!r}: {exc}")
            raise HttpError(error, False, None) from exc
        with body:
            url = self._upload_url(deadline, project, destination, size)
            put = self._client.put(
                url, content=body, headers={"Content-Type": mime_type}, timeout=UPLOAD_TIMEOUT_S
            )
        raise_for(put)
        if not put.headers.get("etag"):
            raise HttpError(NeptuneFileUploadError("the upload answer has no ETag"), False, None)

    def _upload_url(self, deadline: float, project: str, destination: str, size: int) -> str:
        """A signed single-PUT URL for ``destination`` (protocol §4.1, provider ``aws``)."""
        spec = {
            "path": destination,
            "project_identifier": project,
            "permission": "write",
            "size": size,
        }
        headers = {"Authorization": f"Bearer {self._auth.bearer(deadline)}"}
        response = self._client.post(
            SIGNED_URL_PATH, json={"files": [spec]}, headers=headers, timeout=remaining(deadline)
        )
        raise_for(response)
        files = {f.get("path"): f for f in response.json().get("files", [])}
        target = files.get(destination)
        if target is None or target.get("provider") != "aws" or target.get("multipart"):
            error = NeptuneFileUploadError(
                f"the server offered no single-PUT upload URL for {destination!r} "
                "(only provider 'aws' without multipart is supported)"
            )
            raise HttpError(error, False, None)
        return str(target["url"])

    def close(self) -> None:
        self._client.close()


def _issues(counts: dict[int, int], details: list[tuple[int, str, str]]) -> tuple[IngestIssue, ...]:
    """Issues from per-code totals (exact) and per-path details (which carry no counts).

    Each code's total is spread over its detail entries: one entry gets the whole total; with
    several, each gets 1 and the last the remainder, so totals per code stay exact.
    """
    issues: list[IngestIssue] = []
    for code, total in counts.items():
        entries = [(path, message) for c, path, message in details if c == code]
        if not entries:
            issues.append(IngestIssue(code=code, count=total))
            continue
        for index, (path, message) in enumerate(entries):
            last = index == len(entries) - 1
            count = max(total - (len(entries) - 1), 1) if last else 1
            issues.append(IngestIssue(code=code, path=path, message=message, count=count))
    return tuple(issues)


def create_http_transport(api_token: str, *, url: str | None = None) -> HttpTransport:
    """The transport for ``api_token``; raises NeptuneInvalidCredentialsError for a bad token.

    ``url`` is the server's address when it is not the one the token carries (a server reached
    under another name); the token is still the one exchanged for access tokens there.
    """
    if url is None:
        return HttpTransport(api_token)
    client = httpx.Client(
        base_url=url.rstrip("/"), follow_redirects=True, headers={"User-Agent": USER_AGENT}
    )
    return HttpTransport(api_token, client=client)
