"""Argument shaping for the facade: flattening nested configs, and file values → upload records.

A file value becomes two things in the log, in this order: a ``KIND_FILE`` record (what to upload
where; bytes are first written under the run folder so they survive a crash) and a ``FileRef``
entry in the snapshot (destination, size, MIME type), as the official client does.
"""

from __future__ import annotations

import dataclasses
import json
import mimetypes
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neptune_scale import integrations
from neptune_scale import wire as enc
from neptune_scale._oplog import KIND_FILE
from neptune_scale.file_refs import destination_part, guess_mime
from neptune_scale.types import File

if TYPE_CHECKING:
    from neptune_scale._pipeline import Pipeline
    from neptune_scale._snapshots import SnapshotBuilder

__all__ = ["DEFAULT_UI_PORT", "flatten", "prepare", "require_mapping"]

DEFAULT_UI_PORT = 8765  # `despina ui` default, used for local run URLs
MAX_DESTINATION_CHARS = 800
MAX_MIME_CHARS = 128


def require_mapping(data: Any, field: str) -> Mapping[Any, Any]:
    if not isinstance(data, Mapping):
        raise TypeError(f"{field} must be a dict, got {type(data).__name__}")
    return data


def is_dataclass_instance(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def fields_of(value: Any) -> dict[str, Any]:
    """A dataclass instance's fields, one level."""
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts and dataclasses → one level with '/'-joined keys (the integration kit's
    :func:`neptune_scale.integrations.flatten`; ``prefix`` ends with its ``/``)."""
    if not is_dataclass_instance(data):
        require_mapping(data, "data")
    return integrations.flatten(data, prefix.removesuffix("/"))


def prepare(
    files: Mapping[Any, Any],
    step: float | int | None,
    pipeline: Pipeline,
    run_id: str,
    report: Callable[[str], None],
    builder: SnapshotBuilder,
) -> list[bytes]:
    """Append the upload records; return the snapshot entries (FileRefs) to log."""
    tag = enc.TAG_ASSIGN if step is None else enc.TAG_APPEND
    entries = []
    for attribute, value in files.items():
        if not builder._check_path(attribute, "files"):
            continue
        file = value if isinstance(value, File) else File(source=value)
        ref = _upload_request(attribute, file, step, pipeline, run_id, report)
        if ref is not None:
            destination, size, mime = ref
            entries.append(
                enc.map_entry(tag, attribute, enc.value_file_ref(destination, size, mime))
            )
    if entries:
        pipeline.wake_sender()
    return entries


def _upload_request(
    attribute: str,
    file: File,
    step: float | int | None,
    pipeline: Pipeline,
    run_id: str,
    report: Callable[[str], None],
) -> tuple[str, int, str] | None:
    if "\x00" in (file.destination or "") + (file.mime_type or ""):
        report(f"files: {attribute!r}: destination and mime_type must not contain NUL; skipped")
        return None
    temporary = isinstance(file.source, (bytes, bytearray))
    if temporary:
        suffix = Path(file.destination or "").suffix or _suffix_for(file.mime_type)
        source = pipeline.blob_dir / f"{uuid.uuid4()}{suffix}"
        try:
            source.parent.mkdir(exist_ok=True)
            source.write_bytes(bytes(file.source))  # type: ignore[arg-type]
        except OSError as error:  # a full disk must not raise into the training loop
            source.unlink(missing_ok=True)
            report(f"files: {attribute!r}: cannot keep the payload ({error.strerror}); skipped")
            return None
    elif isinstance(file.source, (str, Path)):
        source = Path(file.source)
        if not source.is_file():
            report(f"files: {attribute!r}: {str(source)!r} is not an existing file; skipped")
            return None
    else:
        report(
            f"files: {attribute!r}: source must be a path or bytes, got "
            f"{type(file.source).__name__}; skipped"
        )
        return None
    mime = file.mime_type or guess_mime(file.destination or str(source))
    destination = file.destination or _destination(run_id, attribute, step, source.name)
    if len(destination) > MAX_DESTINATION_CHARS or len(mime) > MAX_MIME_CHARS:
        report(
            f"files: {attribute!r}: destination must be at most {MAX_DESTINATION_CHARS} and "
            f"mime_type at most {MAX_MIME_CHARS} characters; skipped"
        )
        return None
    size = file.size if file.size is not None else source.stat().st_size
    request = {
        "source": str(source.resolve()),
        "destination": destination,
        "mime_type": mime,
        "temporary": temporary,
    }
    pipeline.append(KIND_FILE, json.dumps(request).encode("utf-8"))
    return destination, size, mime


def _suffix_for(mime: str | None) -> str:
    return (mimetypes.guess_extension(mime) or "") if mime else ".bin"


def _destination(run_id: str, attribute: str, step: float | int | None, filename: str) -> str:
    """``<run>/<attribute>/<step>/<file>``: readable parts plus a short hash, unique per value."""
    step_part = "none" if step is None else f"{float(step):019.6f}"
    return "/".join(
        (
            destination_part(run_id, 200),
            destination_part(attribute, 200),
            step_part,
            f"{uuid.uuid4().hex[:12]}-{destination_part(Path(filename).stem, 120)}"
            f"{Path(filename).suffix[:18]}",
        )
    )
