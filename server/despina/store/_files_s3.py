"""File bytes in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, GCS's S3 interface).

boto3 rather than obstore: it reads every AWS credential source an operator already uses
(environment, ``AWS_PROFILE``, instance and container roles, ``AWS_ENDPOINT_URL``), pre-signs
single-object PUT and GET URLs (what the protocol hands to clients), and streams multipart
uploads part by part; obstore is faster on bulk transfers, but the
bytes of a client's upload go straight to the bucket through a signed URL, so the server's own
transfer speed matters little, and boto3 is the client every S3-compatible store tests against.

Configuration (environment): ``DESPINA_FILES=s3://bucket/prefix``; credentials, region and
profile as for any AWS tool; ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` for a store that is
not AWS (path-style addressing is used then); ``DESPINA_S3_PUBLIC_URL`` when clients reach the
store at another address than the server does (signed URLs name that one).
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import boto3
from botocore.client import Config
from botocore.exceptions import BotoCoreError, ClientError

from despina.store._errors import StoredFileNotFound
from despina.store._files import COPY_BUFFER_BYTES, Permission, safe_parts

__all__ = ["PUBLIC_URL_ENV", "S3Files"]

PUBLIC_URL_ENV = "DESPINA_S3_PUBLIC_URL"
_ENDPOINT_ENVS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
MAX_KEY_BYTES = 1024  # S3's limit on an object key
PART_BYTES = 8 * 1024 * 1024  # S3's smallest part is 5 MiB; an upload holds one part at a time
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}


def _read_part(source: BinaryIO, digest: Any) -> bytes:
    """Up to PART_BYTES from ``source`` (short only at its end), added to ``digest``."""
    chunks, size = [], 0
    while size < PART_BYTES and (block := source.read(min(COPY_BUFFER_BYTES, PART_BYTES - size))):
        chunks.append(block)
        size += len(block)
    part = b"".join(chunks)
    digest.update(part)
    return part


class S3Files:
    """A bucket and a key prefix; the key of an object is ``<prefix>/<workspace>/<project>/…``."""

    def __init__(self, bucket: str, prefix: str = "") -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        endpoint = next((os.environ[e] for e in _ENDPOINT_ENVS if os.environ.get(e)), None)
        # Virtual-host addressing needs DNS for <bucket>.<host>; a self-hosted store has none.
        style = "path" if endpoint else "auto"
        config = Config(signature_version="s3v4", s3={"addressing_style": style})
        session = boto3.session.Session()
        self._client = session.client("s3", endpoint_url=endpoint, config=config)
        public = os.environ.get(PUBLIC_URL_ENV) or endpoint
        signing = session.client("s3", endpoint_url=public, config=config) if public else None
        self._signer = signing or self._client

    @classmethod
    def from_url(cls, url: str) -> S3Files:
        """``s3://bucket[/prefix]``; raises ValueError without a bucket."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"DESPINA_FILES must look like s3://bucket/prefix, got {url!r}")
        return cls(parts.netloc, parts.path)

    def key_of(self, project: str, destination: str) -> str:
        parts = safe_parts(project, destination)
        key = "/".join((self.prefix, *parts) if self.prefix else parts)
        if len(key.encode()) <= MAX_KEY_BYTES:
            return key
        # Over S3's key limit (a long destination of 3-byte characters): the project
        # stays a folder, the destination becomes its digest.
        digest = hashlib.sha256(destination.encode()).hexdigest()
        head = (self.prefix, *parts[:2]) if self.prefix else parts[:2]
        return "/".join((*head, "~long", digest))

    def put(self, project: str, destination: str, source: bytes | Path | BinaryIO) -> str:
        key = self.key_of(project, destination)
        if isinstance(source, bytes):
            return self._upload(io.BytesIO(source), key)
        if isinstance(source, Path):
            with source.open("rb") as handle:
                return self._upload(handle, key)
        return self._upload(source, key)

    def _upload(self, source: BinaryIO, key: str) -> str:
        digest = hashlib.md5(usedforsecurity=False)
        try:
            first = _read_part(source, digest)
            if len(first) < PART_BYTES:  # one PUT
                self._client.put_object(Bucket=self.bucket, Key=key, Body=first)
            else:
                self._multipart(source, key, first, digest)
        except (BotoCoreError, ClientError) as exc:
            raise OSError(f"cannot store {key!r} in s3://{self.bucket}: {exc}") from exc
        return digest.hexdigest()

    def _multipart(self, source: BinaryIO, key: str, first: bytes, digest: Any) -> None:
        """Parts one after another: one part (8 MiB) in memory at a time, whatever the size."""
        upload = self._client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        common = {"Bucket": self.bucket, "Key": key, "UploadId": upload}
        try:
            parts: list[dict[str, Any]] = []
            part = first
            while part:
                answer = self._client.upload_part(**common, PartNumber=len(parts) + 1, Body=part)
                parts.append({"PartNumber": len(parts) + 1, "ETag": answer["ETag"]})
                part = _read_part(source, digest)
            self._client.complete_multipart_upload(**common, MultipartUpload={"Parts": parts})
        except BaseException:
            self._client.abort_multipart_upload(**common)
            raise

    def open(self, project: str, destination: str) -> BinaryIO:
        key = self.key_of(project, destination)
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                raise StoredFileNotFound(f"no file {destination!r} in project {project}") from exc
            raise OSError(f"cannot read {key!r} from s3://{self.bucket}: {exc}") from exc
        except BotoCoreError as exc:
            raise OSError(f"cannot read {key!r} from s3://{self.bucket}: {exc}") from exc
        body: BinaryIO = answer["Body"]  # botocore's StreamingBody: read(n), close()
        return body

    def signed_url(
        self, project: str, destination: str, permission: Permission, ttl_s: int
    ) -> str | None:
        method = "get_object" if permission == "read" else "put_object"
        params = {"Bucket": self.bucket, "Key": self.key_of(project, destination)}
        url: str = self._signer.generate_presigned_url(method, Params=params, ExpiresIn=ttl_s)
        return url

    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise OSError(f"cannot reach s3://{self.bucket}: {exc}") from exc

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
