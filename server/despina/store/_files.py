"""Where file bytes live: one interface (:class:`FileArea`), a local folder or an S3 bucket.

``open_file_area(spec)`` (in ``_store``, so that this module and the S3 one built on it never
import each other) picks the implementation: ``s3://bucket/prefix`` is
:class:`despina.store._files_s3.S3Files` (boto3, imported only then), anything else a folder,
:class:`LocalFiles`. Both name an object ``<workspace>/<project>/<destination>``, with every
path segment too long for a file name (over 255 UTF-8 bytes, the limit of every common file
system) replaced by a readable head and its SHA-256 (``safe_parts``), so the longest destination
(``MAX_DESTINATION_CHARS``) is storable; a segment that fits keeps its name, so files
stored before keep theirs. The etag is the MD5 of the content (what S3 answers for one PUT, and
what the server's upload endpoint returns).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal, Protocol

from despina.store._errors import StoredFileNotFound

__all__ = [
    "MAX_DESTINATION_CHARS",
    "FileArea",
    "LocalFiles",
    "Permission",
    "safe_parts",
]

# The protocol's file references hold at most 800 characters (§4.1, the clients drop longer
# ones), but the hosted service stored the bytes of a longer destination all the same (its S3
# keys allow 1,024 bytes) and the official client's tests expect that upload to succeed; longer
# destinations are refused, naming the field and this bound.
MAX_DESTINATION_CHARS = 1024
MAX_SEGMENT_BYTES = 255  # NAME_MAX of ext4, xfs, btrfs, APFS, NTFS (in UTF-16 units, ≥ this)
_HEAD_BYTES = 96  # how much of a long segment stays readable in its stored name
COPY_BUFFER_BYTES = 1024 * 1024

Permission = Literal["read", "write"]


class FileArea(Protocol):
    """Bytes of files by (project, destination). Thread-safe; every method may block on I/O.

    ``put`` raises ValueError for a destination that is empty, longer than 1,024 characters or
    leaves the project; ``open`` raises StoredFileNotFound when nothing was stored there.
    """

    def put(self, project: str, destination: str, source: bytes | Path | BinaryIO) -> str:
        """Store the bytes (streamed, never whole in memory) and return their MD5 hex."""
        ...

    def open(self, project: str, destination: str) -> BinaryIO:
        """A stream of the stored bytes, to be closed by the caller."""
        ...

    def signed_url(
        self, project: str, destination: str, permission: Permission, ttl_s: int
    ) -> str | None:
        """A URL of the object store for one PUT or GET of this object, or None (serve it)."""
        ...

    def check(self) -> None:
        """Raise OSError when the storage cannot be reached (what ``/readyz`` asks)."""
        ...

    def describe(self) -> str:
        """Where the bytes live, for messages (no secrets)."""
        ...


def safe_parts(project: str, destination: str) -> tuple[str, ...]:
    """The object's path segments: project, then destination with long segments hashed.

    Raises ValueError naming the field for an empty or too long destination, an absolute path,
    or a segment that is empty, ``.``, ``..`` or holds NUL or a backslash.
    """
    if not destination or len(destination) > MAX_DESTINATION_CHARS:
        raise ValueError(
            f"file destination (path) must be 1..{MAX_DESTINATION_CHARS} characters, "
            f"got {len(destination)}"
        )
    parts = PurePosixPath(project) / PurePosixPath(destination)
    bad = [p for p in parts.parts if p in ("", ".", "..") or "\x00" in p or "\\" in p]
    if PurePosixPath(destination).is_absolute() or bad:
        raise ValueError(
            f"file destination {destination[:100]!r} must be a relative path inside the project"
        )
    return tuple(_fitting(part) for part in parts.parts)


def _fitting(segment: str) -> str:
    raw = segment.encode()
    if len(raw) <= MAX_SEGMENT_BYTES:
        return segment
    head = raw[:_HEAD_BYTES].decode(errors="ignore")
    # '~' plus a digest of the whole segment: two long segments sharing a head stay apart
    return f"{head}~{hashlib.sha256(raw).hexdigest()}"


class LocalFiles:
    """A folder: ``<root>/<workspace>/<project>/<destination>`` (shared by every process).

    Writes go to a temporary file in the same folder and are renamed into place, so a reader
    never sees half a file.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, project: str, destination: str) -> Path:
        return self.root.joinpath(*safe_parts(project, destination))

    def put(self, project: str, destination: str, source: bytes | Path | BinaryIO) -> str:
        target = self.path_of(project, destination)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.md5(usedforsecurity=False)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(source, bytes):
                    out.write(source)
                    digest.update(source)
                elif isinstance(source, Path):
                    with source.open("rb") as src:
                        copy_hashing(src, out, digest)
                else:
                    copy_hashing(source, out, digest)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return digest.hexdigest()

    def open(self, project: str, destination: str) -> BinaryIO:
        path = self.path_of(project, destination)
        if not path.is_file():
            raise StoredFileNotFound(f"no file {destination!r} in project {project}")
        return path.open("rb")

    def signed_url(
        self, project: str, destination: str, permission: Permission, ttl_s: int
    ) -> str | None:
        return None  # the server signs URLs to itself

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise PermissionError(f"the files folder {self.root} is not writable")

    def describe(self) -> str:
        return str(self.root)


def copy_hashing(src: BinaryIO, out: BinaryIO, digest: hashlib._Hash) -> None:
    while block := src.read(COPY_BUFFER_BYTES):
        out.write(block)
        digest.update(block)
