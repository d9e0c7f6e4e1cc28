"""Builds neptune-exporter exports with pyarrow: the exporter's schema, folder names and parts.

Not the exporter's code: written from ``docs/neptune-export.md``. ``sanitize`` is the folder-name
rule stated there; ``ExportWriter`` writes a run as parts (``.parquet.tmp`` renamed with part 0
last, or left ``.tmp`` for an interrupted run).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema(
    [
        ("project_id", pa.string()),
        ("run_id", pa.string()),
        ("attribute_path", pa.string()),
        ("attribute_type", pa.string()),
        ("step", pa.decimal128(18, 6)),
        ("timestamp", pa.timestamp("ms", tz="UTC")),
        ("int_value", pa.int64()),
        ("float_value", pa.float64()),
        ("string_value", pa.string()),
        ("bool_value", pa.bool_()),
        ("datetime_value", pa.timestamp("ms", tz="UTC")),
        ("string_set_value", pa.list_(pa.string())),
        ("file_value", pa.struct([("path", pa.string())])),
        (
            "histogram_value",
            pa.struct(
                [
                    ("type", pa.string()),
                    ("edges", pa.list_(pa.float64())),
                    ("values", pa.list_(pa.float64())),
                ]
            ),
        ),
    ]
)
UTC = dt.timezone.utc
T0 = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def sanitize(text: str) -> str:
    safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in text)
    return f"{safe}-{hashlib.blake2b(text.encode('utf-8'), digest_size=8).hexdigest()}"


def row(project: str, run: str, path: str, kind: str, **values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {name: None for name in SCHEMA.names}
    out.update(project_id=project, run_id=run, attribute_path=path, attribute_type=kind)
    out.update(values)
    return out


def single(project: str, run: str, path: str, kind: str, value: Any) -> dict[str, Any]:
    column = {
        "float": "float_value", "int": "int_value", "string": "string_value",
        "bool": "bool_value", "datetime": "datetime_value", "string_set": "string_set_value",
    }[kind]  # fmt: skip
    return row(project, run, path, kind, **{column: value})


def point(
    project: str,
    run: str,
    path: str,
    kind: str,
    step: Decimal | int,
    when: dt.datetime | None,
    **values: Any,
) -> dict[str, Any]:
    return row(project, run, path, kind, step=Decimal(step).quantize(Decimal("1.000000")),
               timestamp=when, **values)  # fmt: skip


def sys_rows(
    project: str,
    run: str,
    *,
    name: str | None = None,
    parent: str | None = None,
    fork_step: float | int | None = None,
    tags: list[str] | None = None,
    created: dt.datetime = T0,
) -> list[dict[str, Any]]:
    rows = [
        single(project, run, "sys/custom_run_id", "string", run),
        single(project, run, "sys/creation_time", "datetime", created),
        single(project, run, "sys/modification_time", "datetime", created + dt.timedelta(hours=1)),
        single(project, run, "sys/owner", "string", "alice"),
        single(project, run, "sys/id", "string", f"OLD-{abs(hash(run)) % 1000}"),
        single(project, run, "sys/ping_time", "datetime", created + dt.timedelta(hours=1)),
        single(project, run, "sys/running_time", "float", 3600.0),
        single(project, run, "sys/size", "float", 1234.0),
        single(project, run, "sys/state", "string", "inactive"),
        single(project, run, "sys/tags", "string_set", tags or []),
        single(project, run, "sys/group_tags", "string_set", ["grp"]),
    ]
    if name is not None:
        rows.append(single(project, run, "sys/name", "string", name))
    if parent is not None:
        rows.append(single(project, run, "sys/forking/parent", "string", parent))
        kind = "int" if isinstance(fork_step, int) else "float"
        rows.append(single(project, run, "sys/forking/step", kind, fork_step))
    return rows


class ExportWriter:
    """Writes runs under ``root/data`` (and files under ``root/files``)."""

    def __init__(self, root: Path) -> None:
        self.data = root / "data"
        self.files = root / "files"
        self.data.mkdir(parents=True, exist_ok=True)
        self.files.mkdir(parents=True, exist_ok=True)

    def file(self, project: str, relative: str, content: bytes) -> str:
        path = self.files / sanitize(project) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return relative

    def write_run(
        self,
        project: str,
        run: str,
        parts: list[list[dict[str, Any]]],
        *,
        finished: bool = True,
        row_group_size: int | None = None,
    ) -> list[Path]:
        folder = self.data / sanitize(project)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for n, rows in enumerate(parts):
            tmp = folder / f"{sanitize(run)}_part_{n}.parquet.tmp"
            table = pa.Table.from_pylist(rows, schema=SCHEMA)
            with pq.ParquetWriter(tmp, SCHEMA, compression="snappy") as writer:
                writer.write_table(table, row_group_size=row_group_size)
            written.append(tmp)
        if not finished:
            return written
        done = []
        for tmp in reversed(written):  # part 0 last, as the exporter renames them
            final = tmp.with_suffix("")
            tmp.rename(final)
            done.append(final)
        return done
