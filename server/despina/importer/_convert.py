"""Exported rows → the snapshots a ``neptune_scale`` run would have sent for the same data.

A batch of rows becomes requests of two kinds, sent in this order: *items* (assigns, tag
changes, string and histogram points, file references; one Python call each) and *points*
(float series, encoded column-wise by ``_encode``). Only the order within one attribute
matters to the store, and both kinds keep the rows' order.

How the export's shapes map (``docs/neptune-export.md``):

* single values are assigned with their type; a row without a payload is an attribute the run
  does not have (the exporter writes a table's empty cells) and is left out;
* ``sys/tags`` / ``sys/group_tags`` are added through ``modify_sets``; every other ``sys/`` row
  (read-only in the protocol) is assigned under ``import/sys/…``, so original ids, owner and
  times stay visible;
* a float point without a value is NaN (pandas turned NaN into a null on export); a series point
  without a timestamp (2.x file series) takes its predecessor's, else the run's creation time;
* files are uploaded first, to ``<run>/<attribute>/<step>/<name>`` (a fixed place, so a second
  import rewrites the same bytes), then referenced; a 2.x ``file_set`` becomes one file
  attribute per file of its folder (``<attribute>/<relative path>``), an ``artifact`` its
  ``files_list.json`` as a file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from neptune_scale import wire as enc
from neptune_scale.file_refs import destination_part, guess_mime

from despina.importer._encode import MICROS, encode_float_points, snapshot
from despina.importer._plan import RunPlan, to_millis
from despina.importer._read import millis, step_micros

__all__ = ["Converter", "Request", "Upload"]

MAX_REQUEST_POINTS = 200_000  # below the store's slice budget: one transaction per request
MAX_REQUEST_ITEMS = 5_000
MAX_REQUEST_BYTES = 4 * 1024 * 1024
WRITABLE_SETS = ("sys/tags", "sys/group_tags")
IMPORT_NAMESPACE = "import/"
_SET_ADD = 1


@dataclass(frozen=True)
class Upload:
    destination: str
    source: Path
    mime: str


@dataclass
class Request:
    """Framed snapshots for one ``update_batch``, and the files to upload before it."""

    body: bytearray = field(default_factory=bytearray)
    uploads: list[Upload] = field(default_factory=list)
    points: int = 0
    items: int = 0
    file_bytes: int = 0


class Converter:
    """Turns one run's rows into requests; keeps what spans batches (last series times)."""

    def __init__(self, plan: RunPlan, files_root: Path | None) -> None:
        self.plan = plan
        self.files_root = files_root / plan.files.folder.name if files_root else None
        self.last_ms: dict[str, int] = {}
        self.skipped_files = 0
        self.problems: list[str] = []
        self.pending: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self.pending_points = 0

    def requests(self, batch: pa.RecordBatch) -> Iterator[Request]:
        is_float = pc.equal(batch.column("attribute_type"), "float_series")
        others = batch.filter(pc.invert(pc.fill_null(is_float, False)))
        if others.num_rows:
            yield from self._items(others)
        floats = batch.filter(pc.fill_null(is_float, False))
        if floats.num_rows:
            yield from self._floats(floats)

    # float series, column-wise
    def _floats(self, rows: pa.RecordBatch) -> Iterator[Request]:
        """Points are gathered per series across batches (up to ``MAX_REQUEST_POINTS`` in all)
        and sent one series per request: snapshots that differ only in numbers take the
        store's vectorized decoding, which a mix of keys in one request would leave."""
        steps, has_step = step_micros(rows.column("step"))
        times, has_time = millis(rows.column("timestamp"))
        values = pc.fill_null(rows.column("float_value"), float("nan")).to_numpy()
        paths = rows.column("attribute_path")
        if not pa.types.is_dictionary(paths.type):
            paths = pc.dictionary_encode(paths)
        codes = paths.indices.to_numpy(zero_copy_only=False)
        if not has_step.all():
            self.problems.append(f"{int((~has_step).sum())} float points without a step left out")
        order = np.argsort(codes, kind="stable")  # rows of each series together, in file order
        bounds = np.searchsorted(codes[order], np.arange(len(paths.dictionary) + 1))
        for code, path in enumerate(paths.dictionary.to_pylist()):
            chosen = order[bounds[code] : bounds[code + 1]]
            chosen = chosen[has_step[chosen]]
            if len(chosen):
                ms = self._fill_times(path, times[chosen], has_time[chosen])
                self.pending.setdefault(path, []).append((steps[chosen], ms, values[chosen]))
                self.pending_points += len(chosen)
        if self.pending_points >= MAX_REQUEST_POINTS:
            yield from self.flush()

    def flush(self) -> Iterator[Request]:
        """The gathered float points, one series per request."""
        pending, self.pending, self.pending_points = self.pending, {}, 0
        for path, pieces in pending.items():
            steps = np.concatenate([p[0] for p in pieces])
            times = np.concatenate([p[1] for p in pieces])
            values = np.concatenate([p[2] for p in pieces])
            for start in range(0, len(steps), MAX_REQUEST_POINTS):
                part = slice(start, start + MAX_REQUEST_POINTS)
                body = encode_float_points(path, steps[part], times[part], values[part])
                yield Request(body=bytearray(body), points=len(values[part]))

    def _fill_times(self, path: str, ms: np.ndarray, known: np.ndarray) -> np.ndarray:
        """A point without a time takes the time before it (the run's creation at first)."""
        if not known.all():
            start = self.last_ms.get(path, self.plan.creation_ms or 0)
            filled = np.where(known, ms, -1)
            filled = np.maximum.accumulate(np.concatenate([[start], filled]))[1:]
            ms = np.where(known, ms, filled)
        if len(ms):
            self.last_ms[path] = int(ms[-1])
        return ms

    # everything else, row by row
    def _items(self, rows: pa.RecordBatch) -> Iterator[Request]:
        steps, has_step = step_micros(rows.column("step"))
        times, has_time = millis(rows.column("timestamp"))
        request = Request()
        for i, row in enumerate(rows.to_pylist()):
            step = int(steps[i]) if has_step[i] else None
            time = int(times[i]) if has_time[i] else None
            self._item(request, row, step, time)
            if request.items >= MAX_REQUEST_ITEMS or len(request.body) >= MAX_REQUEST_BYTES:
                yield request
                request = Request()
        if request.items:
            yield request

    def _item(
        self, request: Request, row: dict[str, Any], step: int | None, time: int | None
    ) -> None:
        path, kind = row["attribute_path"], row["attribute_type"]
        if path in WRITABLE_SETS:
            tags = row["string_set_value"]
            if tags:
                entry = enc.modify_string_set_entry(path, dict.fromkeys(tags, _SET_ADD))
                request.body += snapshot(None, None, entry)
                request.items += 1
            return
        if path.startswith("sys/"):
            path = IMPORT_NAMESPACE + path
        value = _single_value(kind, row)
        if value is not None:
            request.body += snapshot(None, None, enc.map_entry(enc.TAG_ASSIGN, path, value))
            request.items += 1
            return
        if kind in ("string_series", "histogram_series"):
            self._series_point(request, row, path, kind, step, time)
        elif kind in ("file", "file_series", "file_set", "artifact"):
            self._file(request, row, path, kind, step, time)
        elif kind not in _SINGLE_KINDS:
            self.problems.append(f"{path}: attribute type {kind!r} is not known; left out")

    def _series_point(
        self,
        request: Request,
        row: dict[str, Any],
        path: str,
        kind: str,
        step: int | None,
        time: int | None,
    ) -> None:
        if step is None:
            self.problems.append(f"{path}: a point without a step left out")
            return
        if kind == "string_series":
            if row["string_value"] is None:
                return
            value = enc.value_string(row["string_value"])
        else:
            histogram = _histogram(row["histogram_value"])
            if histogram is None:
                self.problems.append(f"{path}: histogram at step {step / MICROS:g} is malformed")
                return
            value = histogram
        ms = self._one_time(path, time)
        request.body += snapshot(step, ms, enc.map_entry(enc.TAG_APPEND, path, value))
        request.items += 1

    def _one_time(self, path: str, time: int | None) -> int:
        if time is None:
            time = self.last_ms.get(path, self.plan.creation_ms or 0)
        self.last_ms[path] = time
        return time

    def _file(
        self,
        request: Request,
        row: dict[str, Any],
        path: str,
        kind: str,
        step: int | None,
        time: int | None,
    ) -> None:
        relative = (row["file_value"] or {}).get("path")
        if not relative:
            return
        if self.files_root is None:
            self.skipped_files += 1
            return
        source = self.files_root / relative
        if kind == "file_set":
            self._file_set(request, path, source)
            return
        if not source.is_file():
            self.problems.append(f"{path}: file {relative} is not in the files folder")
            return
        ref = self._upload(request, path, source, step)
        if kind == "file_series":
            if step is None:
                self.problems.append(f"{path}: a file series point without a step left out")
                return
            ms = self._one_time(path, time)
            request.body += snapshot(step, ms, enc.map_entry(enc.TAG_APPEND, path, ref))
        else:
            request.body += snapshot(None, None, enc.map_entry(enc.TAG_ASSIGN, path, ref))
        request.items += 1

    def _file_set(self, request: Request, path: str, folder: Path) -> None:
        if not folder.is_dir():
            self.problems.append(
                f"{path}: file set folder {folder.name} is not in the files folder"
            )
            return
        for source in sorted(p for p in folder.rglob("*") if p.is_file()):
            member = f"{path}/{source.relative_to(folder).as_posix()}"
            ref = self._upload(request, member, source, None)
            request.body += snapshot(None, None, enc.map_entry(enc.TAG_ASSIGN, member, ref))
            request.items += 1

    def _upload(self, request: Request, path: str, source: Path, step: int | None) -> bytes:
        step_part = "none" if step is None else f"{step // MICROS:012d}.{step % MICROS:06d}"
        name = destination_part(source.stem, 120) + source.suffix[:18]
        destination = "/".join(
            (destination_part(self.plan.run_id, 200), destination_part(path, 200), step_part, name)
        )
        mime = guess_mime(source.name)
        size = source.stat().st_size
        request.uploads.append(Upload(destination, source, mime))
        request.file_bytes += size
        return enc.value_file_ref(destination, size, mime)


_SINGLE_KINDS = ("float", "int", "string", "bool", "datetime", "string_set")


def _single_value(kind: str, row: dict[str, Any]) -> bytes | None:
    """The encoded ``Value`` of a single-value row, None when absent or not a single value."""
    if kind == "float" and row["float_value"] is not None:
        return enc.value_float(row["float_value"])
    if kind == "int" and row["int_value"] is not None:
        return enc.value_int(row["int_value"])
    if kind == "string" and row["string_value"] is not None:
        return enc.value_string(row["string_value"])
    if kind == "bool" and row["bool_value"] is not None:
        return enc.value_bool(row["bool_value"])
    if kind == "datetime" and isinstance(row["datetime_value"], dt.datetime):
        seconds, ms = divmod(to_millis(row["datetime_value"]), 1000)
        return enc.field(0x42, enc.timestamp_message(seconds, ms * 1_000_000))
    if kind == "string_set" and row["string_set_value"] is not None:
        return enc.value_string_set(row["string_set_value"])
    return None


def _histogram(value: dict[str, Any] | None) -> bytes | None:
    if not value or value.get("edges") is None or value.get("values") is None:
        return None
    edges, values = list(value["edges"]), list(value["values"])
    if len(edges) != len(values) + 1:
        return None
    if str(value.get("type", "")).upper() == "COUNTING":
        if not all(float(v).is_integer() and v >= 0 for v in values):
            return None
        return enc.value_histogram(edges, [int(v) for v in values], None)
    return enc.value_histogram(edges, None, values)
