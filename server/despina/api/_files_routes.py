"""Files through signed URLs (protocol §4, provider ``aws``).

``/api/storagebridge/v1/signedUrl`` hands out, per file, a URL for one PUT or GET of that one
object, expiring after ``ServerSettings.signed_url_ttl_s``. With a bucket behind the store
(``DESPINA_FILES=s3://…``) it is the object store's own pre-signed URL, so file bytes never pass
through this process. With a folder it is a URL under ``/storage/…`` on this server whose query
carries an expiry and an HMAC of (permission, project, destination, expiry) made with the server
secret: the official uploader calls it without a Bearer token, exactly like an S3 pre-signed
URL, and it is refused as S3 refuses one: 400 when it was altered (any parameter changed, added
or removed) or has expired — neptune-query reads a 400 as "expired" and asks again — and 403
when it was signed for the other method. A PUT streams the body to the store and answers with
an ``ETag``; a GET streams the file back.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from despina.api._context import (
    bearer_grant,
    context_of,
    public_url,
    read_body,
    reject,
    require_project,
)
from despina.api._metrics import count_file_bytes
from despina.store import FileArea, safe_parts

__all__ = ["router", "sign"]

router = APIRouter()

MAX_DESTINATION_LENGTH = 1024
MAX_FILES_PER_REQUEST = 1000
STREAM_CHUNK_BYTES = 1024 * 1024
PERMISSIONS = {"read": "r", "write": "w"}
_SIGNED_PARAMS = {"perm", "exp", "sig"}


class FileSpec(BaseModel):
    path: str = Field(min_length=1, max_length=MAX_DESTINATION_LENGTH)
    project_identifier: str = Field(min_length=3)
    permission: Literal["read", "write"]
    size: int | None = None


class SignedUrlRequest(BaseModel):
    files: list[FileSpec] = Field(max_length=MAX_FILES_PER_REQUEST)


def sign(secret: str, permission: str, project: str, destination: str, expires: int) -> str:
    message = f"{permission}\n{project}\n{destination}\n{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _check_destination(path: str) -> None:
    # URL normalisation would rewrite '.'/'..'/empty segments and break the signature.
    if path.startswith("/") or any(part in ("", ".", "..") for part in path.split("/")):
        reject(400, f"file path {path!r} must be relative, without empty, '.' or '..' segments")


@router.post("/api/storagebridge/v1/signedUrl")
async def signed_urls(request: Request) -> dict[str, Any]:
    grant = await bearer_grant(request)
    ctx = context_of(request)
    body = await read_body(request, ctx.settings.max_json_body_bytes)
    try:
        spec = SignedUrlRequest.model_validate_json(body)
    except ValidationError as exc:
        reject(422, f"invalid signedUrl request: {exc.errors(include_url=False)}")
    expires = int(time.time()) + ctx.settings.signed_url_ttl_s
    base = public_url(request)
    files = []
    for file in spec.files:
        require_project(grant, file.project_identifier)
        _check_destination(file.path)
        url = await run_in_threadpool(
            _store_url, ctx.store.files, file, ctx.settings.signed_url_ttl_s
        )
        if url is None:
            perm = PERMISSIONS[file.permission]
            sig = sign(ctx.secret, perm, file.project_identifier, file.path, expires)
            url = (
                f"{base}/storage/{quote(file.project_identifier, safe='/')}/"
                f"{quote(file.path, safe='/')}?perm={perm}&exp={expires}&sig={sig}"
            )
        files.append(
            {
                "path": file.path,
                "project_identifier": file.project_identifier,
                "provider": "aws",
                "url": url,
                "multipart": None,
            }
        )
    return {"files": files}


def _store_url(files: FileArea, file: FileSpec, ttl_s: int) -> str | None:
    """The object store's own signed URL, or None: this server serves the file.

    A destination the store refuses (over 1,024 characters) gets this server's URL, whose PUT
    answers 400 naming the field: one bad file must not fail the batch it was asked with.
    """
    try:
        return files.signed_url(file.project_identifier, file.path, file.permission, ttl_s)
    except ValueError:
        return None


def _verify(request: Request, perm: str, project: str, destination: str) -> None:
    query = request.query_params
    expires, sig, signed_perm = query.get("exp", ""), query.get("sig", ""), query.get("perm", "")
    # Like S3: a URL whose query was altered is a bad request (400), which neptune-query reads
    # as "expired" and answers by asking for a fresh URL; it is not retried as it stands.
    altered = set(query.keys()) != _SIGNED_PARAMS or len(query.multi_items()) != 3
    if altered or not expires.isdigit() or signed_perm not in PERMISSIONS.values():
        reject(400, "the signed URL was altered; ask /api/storagebridge/v1/signedUrl again")
    expected = sign(context_of(request).secret, signed_perm, project, destination, int(expires))
    if not hmac.compare_digest(expected, sig):
        reject(400, "the URL signature does not match; ask /api/storagebridge/v1/signedUrl again")
    if signed_perm != perm:
        reject(403, f"this URL is not signed for {'writing' if perm == 'w' else 'reading'}")
    if int(expires) < time.time():
        # neptune-query re-signs on 400 "expired"; the signature was valid, so say so.
        reject(400, "the signed URL has expired; ask /api/storagebridge/v1/signedUrl again")


@router.put("/storage/{workspace}/{project}/{destination:path}")
async def put_file(workspace: str, project: str, destination: str, request: Request) -> Response:
    identifier = f"{workspace}/{project}"
    _verify(request, "w", identifier, destination)
    try:
        safe_parts(identifier, destination)  # refuse before reading the body
    except ValueError as exc:  # the message names the field and the limit
        reject(400, str(exc))
    ctx = context_of(request)
    limit = ctx.settings.max_file_bytes
    fd, name = tempfile.mkstemp(prefix="despina-upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    reject(413, f"file of more than {limit} bytes exceeds the server's file limit")
                out.write(chunk)
        etag = await run_in_threadpool(ctx.store.put_file, identifier, destination, Path(name))
        count_file_bytes(request.app.state, "in", size)
    except ValueError as exc:  # the store refuses the destination; the message names it
        reject(400, str(exc))
    except OSError as exc:  # the bucket or the folder cannot be written: worth a retry
        reject(503, f"file storage unavailable: {exc}")
    finally:
        Path(name).unlink(missing_ok=True)
    return Response(status_code=200, headers={"ETag": f'"{etag}"'})


def _chunks(handle: Any, state: Any) -> Iterator[bytes]:
    while chunk := handle.read(STREAM_CHUNK_BYTES):
        count_file_bytes(state, "out", len(chunk))
        yield chunk


@router.get("/storage/{workspace}/{project}/{destination:path}")
async def get_file(workspace: str, project: str, destination: str, request: Request) -> Response:
    identifier = f"{workspace}/{project}"
    _verify(request, "r", identifier, destination)
    store = context_of(request).store
    try:
        handle = await run_in_threadpool(store.open_file, identifier, destination)
    except (FileNotFoundError, KeyError):
        reject(404, f"no file {destination!r} in project {identifier!r}")
    except ValueError as exc:  # the store refuses the destination; the message names it
        reject(400, str(exc))
    except OSError as exc:
        reject(503, f"file storage unavailable: {exc}")
    return StreamingResponse(
        _chunks(handle, request.app.state),
        media_type="application/octet-stream",
        background=BackgroundTask(handle.close),
    )
