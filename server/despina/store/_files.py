"""Files assigned or logged to runs, under ``<store>/files/<workspace>/<project>/<destination>``.

Writes go to a temporary file in the same folder and are renamed into place, so a reader never
sees half a file; the etag is the MD5 of the content (what S3 answers, and what the server's
upload endpoint returns).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from despina.store._errors import StoredFileNotFound

__all__ = ["MAX_DESTINATION_CHARS", "FileArea"]

MAX_DESTINATION_CHARS = 800
_COPY_BUFFER_BYTES = 1024 * 1024


def _relative(project: str, destination: str) -> PurePosixPath:
    if not destination or len(destination) > MAX_DESTINATION_CHARS:
        raise ValueError(
            f"file destination must be 1..{MAX_DESTINATION_CHARS} characters, "
            f"got {len(destination)}"
        )
    parts = PurePosixPath(project) / PurePosixPath(destination)
    bad = [p for p in parts.parts if p in ("", ".", "..") or "\x00" in p or "\\" in p]
    if PurePosixPath(destination).is_absolute() or bad:
        raise ValueError(
            f"file destination {destination!r} must be a relative path inside the project"
        )
    return parts


class FileArea:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, project: str, destination: str) -> Path:
        return self.root.joinpath(*_relative(project, destination).parts)

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
                        _copy(src, out, digest)
                else:
                    _copy(source, out, digest)
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

    def copy_to(self, project: str, destination: str, target: Path) -> Path:
        with self.open(project, destination) as src, target.open("wb") as out:
            shutil.copyfileobj(src, out, _COPY_BUFFER_BYTES)
        return target


def _copy(src: BinaryIO, out: BinaryIO, digest: hashlib._Hash) -> None:
    while block := src.read(_COPY_BUFFER_BYTES):
        out.write(block)
        digest.update(block)
