"""The run folder's identity (``meta.json`` and its copy ``meta.copy.json``): which run of
which project the folder's operation log belongs to, the log's format, and (format 3) the create
record's message, so that a damaged create record can be written again.

Each copy carries a crc32 of its content; a damaged copy is ignored (and written again by the
next writer) while the other one is good. Format 2 folders have one copy, without a crc.
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from pathlib import Path
from typing import Any

__all__ = [
    "FORMATS_READ",
    "FORMAT_VERSION",
    "META_COPY_FILE",
    "META_FILE",
    "has_meta",
    "read_meta",
    "read_meta_checked",
    "replace_file",
    "write_meta",
]

FORMAT_VERSION = 3  # of the operation log (see _oplog)
FORMATS_READ = (2, 3)
META_FILE = "meta.json"
META_COPY_FILE = "meta.copy.json"


def has_meta(folder: Path) -> bool:
    """Whether ``folder`` is a run folder (either copy of the identity may be there)."""
    return (folder / META_FILE).exists() or (folder / META_COPY_FILE).exists()


def read_meta(folder: Path) -> dict[str, Any]:
    """The run's identity: ``format``, ``project``, ``run_id`` and (format 3) ``create``, the
    create record's message or None; from meta.json or, if that is damaged, its copy."""
    return read_meta_checked(folder)[0]


def read_meta_checked(folder: Path) -> tuple[dict[str, Any], list[str]]:
    """The identity and a note for each copy of it found damaged or missing (both are read,
    so that a damaged copy is written again while the other one is good)."""
    notes: list[str] = []
    found: dict[str, Any] | None = None
    for name in (META_FILE, META_COPY_FILE):
        try:
            raw = (folder / name).read_bytes()
        except FileNotFoundError:
            notes.append(f"{name} is missing")
            continue
        meta, problem = _parse_meta(raw)
        if problem.startswith("format"):
            raise ValueError(f"{folder} holds operation log {problem}")
        if meta is None:
            notes.append(f"{name} is damaged ({problem})")
        elif found is None:
            found = meta
    if found is None:
        raise ValueError(f"{folder}: the run's identity is unreadable: {'; '.join(notes)}")
    if found["format"] < 3:  # format 2 kept one copy
        notes = [n for n in notes if n != f"{META_COPY_FILE} is missing"]
    return found, notes


def _parse_meta(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, "not JSON"
    if not isinstance(meta, dict):
        return None, "not a JSON object"
    version = meta.get("format")
    if version not in FORMATS_READ:
        return None, f"format {version!r}, this client reads formats {FORMATS_READ}"
    crc = meta.pop("crc", None)
    if version >= 3 and crc != zlib.crc32(_canonical(meta)):
        return None, "checksum mismatch"
    if not (isinstance(meta.get("project"), str) and isinstance(meta.get("run_id"), str)):
        return None, "no project and run_id"
    create = meta.get("create")
    meta["create"] = None if create is None else base64.b64decode(create)
    return meta, ""


def _canonical(meta: dict[str, Any]) -> bytes:
    return json.dumps(meta, sort_keys=True).encode("utf-8")


def write_meta(folder: Path, project: str, run_id: str, create: bytes | None = None) -> None:
    """Write both copies of the identity (format 3), each with a crc32 of its content."""
    meta: dict[str, Any] = {"format": FORMAT_VERSION, "project": project, "run_id": run_id}
    meta["create"] = None if create is None else base64.b64encode(create).decode("ascii")
    meta["crc"] = zlib.crc32(_canonical(meta))
    data = json.dumps(meta).encode("utf-8")
    for name in (META_FILE, META_COPY_FILE):
        replace_file(folder / name, data)


def replace_file(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk: leave no half-written file behind
        raise
    os.replace(tmp, path)
