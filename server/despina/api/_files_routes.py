"""Files through signed URLs served by the server itself (protocol §4, provider ``aws``).

``/api/storagebridge/v1/signedUrl`` hands out URLs under ``/storage/…`` whose query carries an
expiry and an HMAC of (permission, project, destination, expiry) made with the server secret:
the official uploader calls them without a Bearer token, exactly like S3 presigned URLs. A PUT
stores the body and answers with an ``ETag``; a GET streams the file back.
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

__all__ = ["router", "sign"]

router = APIRouter()

MAX_DESTINATION_LENGTH = 1024
MAX_FILES_PER_REQUEST = 1000
STREAM_CHUNK_BYTES = 1024 * 1024
PERMISSIONS = {"read": "r", "write": "w"}


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


def _verify(request: Request, perm: str, project: str, destination: str) -> None:
    query = request.query_params
    expires, sig = query.get("exp", ""), query.get("sig", "")
    if query.get("perm") != perm or not expires.isdigit():
        reject(403, f"this URL is not signed for {'writing' if perm == 'w' else 'reading'}")
    expected = sign(context_of(request).secret, perm, project, destination, int(expires))
    if not hmac.compare_digest(expected, sig):
        reject(403, "the URL signature does not match")
    if int(expires) < time.time():
        # neptune-query re-signs on 400 "expired"; the signature was valid, so say so.
        reject(400, "the signed URL has expired; ask /api/storagebridge/v1/signedUrl again")


@router.put("/storage/{workspace}/{project}/{destination:path}")
async def put_file(workspace: str, project: str, destination: str, request: Request) -> Response:
    identifier = f"{workspace}/{project}"
    _verify(request, "w", identifier, destination)
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
    except ValueError as exc:  # the store refuses the destination; the message names it
        reject(400, str(exc))
    finally:
        Path(name).unlink(missing_ok=True)
    return Response(status_code=200, headers={"ETag": f'"{etag}"'})


def _chunks(handle: Any) -> Iterator[bytes]:
    while chunk := handle.read(STREAM_CHUNK_BYTES):
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
    return StreamingResponse(
        _chunks(handle),
        media_type="application/octet-stream",
        background=BackgroundTask(handle.close),
    )
