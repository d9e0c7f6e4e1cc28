"""Runs as the neptune-query read side sees them: identifiers, typed attribute DTOs, aggregates.

A run is named on the wire as ``ws/proj/SYS-ID`` (its short id) or, in the runs API's fast path,
``CUSTOM/ws/proj/run_id``. Attributes travel as ``ProtoAttributeDTO`` with the ``*_properties``
field matching the type (protocol §5.4); datetimes as epoch milliseconds. Series report their
last visible point (inherited through fork lineage) and float series their aggregates over every
visible point.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from neptune_api.proto.neptune_pb.api.v1.model import leaderboard_entries_pb2 as le
from neptune_api.proto.neptune_pb.api.v1.model import series_values_pb2 as sv

from despina.query import RunView, Snapshot
from despina.store import HISTOGRAM_COUNTING, ProjectRow, RunRow, decode_value, run_uuid

__all__ = [
    "CUSTOM_PREFIX",
    "RunRef",
    "attribute_dto",
    "experiment_uuid",
    "file_proto",
    "float_aggregates",
    "histogram_proto",
    "parse_run_ref",
    "resolve_run",
]

CUSTOM_PREFIX = "CUSTOM/"


@dataclass(frozen=True)
class RunRef:
    project: str  # "workspace/project"
    run: str  # short id, or custom run id when ``custom``
    custom: bool


def parse_run_ref(identifier: str) -> RunRef:
    """``ws/proj/SYS-ID`` or ``CUSTOM/ws/proj/run_id``; ValueError naming the expected shape."""
    custom = identifier.startswith(CUSTOM_PREFIX)
    rest = identifier[len(CUSTOM_PREFIX) :] if custom else identifier
    parts = rest.split("/", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(
            f"run identifier {identifier!r} must be 'workspace/project/SYS-ID' or "
            "'CUSTOM/workspace/project/run_id'"
        )
    return RunRef(f"{parts[0]}/{parts[1]}", parts[2], custom)


def resolve_run(snap: Snapshot, project: ProjectRow, ref: RunRef) -> RunRow | None:
    if ref.custom:
        return snap.tx.run(project.pk, ref.run)
    return snap.tx.run_by_short_id(project.pk, ref.run)


def experiment_uuid(project: str, run: RunRow) -> str:
    return run_uuid(project, run)  # the same UUID as the run's sys/diagnostics/run_uuid


def _ms(value: Any) -> int:
    if isinstance(value, dt.datetime):
        return round(value.timestamp() * 1000)
    return int(value)


@dataclass
class FloatAggregates:
    last_step: float | None
    last: float | None
    vmin: float | None
    vmax: float | None
    average: float | None
    variance: float | None


def float_aggregates(snap: Snapshot, view: RunView, path: str) -> FloatAggregates:
    """Last point and min/max/mean/variance (finite values) of the visible series."""
    state = view.series.get(path)
    if state is None:
        return FloatAggregates(None, None, None, None, None, None)
    if state.run_pk == view.run.pk and view.run.parent_pk is None:
        n = state.finite_count
        mean = state.vsum / n if n else None
        variance = max(state.vsumsq / n - mean * mean, 0.0) if mean is not None else None
        last = None if state.last_value is None else float(decode_value(state.last_value))
        return FloatAggregates(state.last_step, last, state.vmin, state.vmax, mean, variance)
    cols = snap.float_points(view.run, path, timestamps=False)
    if not len(cols):
        return FloatAggregates(None, None, None, None, None, None)
    finite = cols.values[np.isfinite(cols.values)]
    if not len(finite):
        return FloatAggregates(float(cols.steps[-1]), float(cols.values[-1]), *(None,) * 4)
    return FloatAggregates(
        float(cols.steps[-1]),
        float(cols.values[-1]),
        float(finite.min()),
        float(finite.max()),
        float(finite.mean()),
        float(finite.var()),
    )


def _last_point(snap: Snapshot, view: RunView, path: str) -> tuple[float | None, Any]:
    """Step and decoded value of the last visible point of a non-float series."""
    state = view.series.get(path)
    if state is None:
        return None, None
    for segment in snap.lineage(view.run):
        if segment.run.pk != state.run_pk:
            continue
        if math.isinf(segment.up_to) or (
            state.last_step is not None and state.last_step <= segment.up_to
        ):
            value = None if state.last_value is None else decode_value(state.last_value)
            return state.last_step, value
        if state.pk is None:
            break
        found = snap.tx.points(state.pk, None, segment.up_to, limit=1, descending=True)
        if found:
            return found[0].step, decode_value(found[0].value)
    return None, None


def histogram_proto(value: dict[str, Any], out: sv.ProtoHistogram) -> None:
    out.type = str(value.get("type", HISTOGRAM_COUNTING))
    out.edges.extend(float(e) for e in value.get("edges", ()))
    out.values.extend(float(v) for v in value.get("values", ()))


def file_proto(value: dict[str, Any], out: sv.ProtoFileRef | le.ProtoFileRefAttributeDTO) -> None:
    out.path = str(value.get("path", ""))
    out.sizeBytes = int(value.get("size_bytes") or 0)
    out.mimeType = str(value.get("mime_type") or "")


def _scalar(dto: le.ProtoAttributeDTO, kind: str, path: str, value: Any) -> None:
    field: Any = {
        "int": dto.int_properties,
        "float": dto.float_properties,
        "string": dto.string_properties,
        "bool": dto.bool_properties,
        "datetime": dto.datetime_properties,
        "stringSet": dto.string_set_properties,
        "fileRef": dto.file_ref_properties,
    }[kind]
    field.attribute_name, field.attribute_type = path, kind
    if kind == "int":
        dto.int_properties.value = int(value)
    elif kind == "float":
        dto.float_properties.value = float(value)
    elif kind == "string":
        dto.string_properties.value = str(value)
    elif kind == "bool":
        dto.bool_properties.value = bool(value)
    elif kind == "datetime":
        dto.datetime_properties.value = _ms(value)
    elif kind == "stringSet":
        dto.string_set_properties.value.extend(sorted(value))
    else:
        file_proto(value, dto.file_ref_properties)


def _float_series(snap: Snapshot, view: RunView, dto: le.ProtoAttributeDTO, path: str) -> None:
    props = dto.float_series_properties
    props.attribute_name, props.attribute_type = path, "floatSeries"
    agg = float_aggregates(snap, view, path)
    for name, value in (
        ("last_step", agg.last_step),
        ("last", agg.last),
        ("min", agg.vmin),
        ("max", agg.vmax),
        ("average", agg.average),
        ("variance", agg.variance),
    ):
        if value is not None:
            setattr(props, name, value)
    state = view.series.get(path)
    props.has_preview = bool(state is not None and state.has_preview)


def _object_series(
    snap: Snapshot, view: RunView, dto: le.ProtoAttributeDTO, kind: str, path: str
) -> None:
    step, value = _last_point(snap, view, path)
    props: Any = {
        "stringSeries": dto.string_series_properties,
        "fileRefSeries": dto.file_ref_series_properties,
        "histogramSeries": dto.histogram_series_properties,
    }[kind]
    props.attribute_name, props.attribute_type = path, kind
    if step is not None:
        props.last_step = step
    if value is None:
        return
    if kind == "stringSeries":
        props.last = str(value)
    elif kind == "fileRefSeries":
        file_proto(value, props.last)
    else:
        histogram_proto(value, props.last)


def attribute_dto(snap: Snapshot, view: RunView, path: str) -> le.ProtoAttributeDTO | None:
    """The typed DTO of one attribute of the run, or None when it has no value to show."""
    kind = view.types.get(path)
    if kind is None:
        return None
    dto = le.ProtoAttributeDTO(name=path, type=kind)
    if kind == "floatSeries":
        _float_series(snap, view, dto, path)
    elif kind in ("stringSeries", "fileRefSeries", "histogramSeries"):
        _object_series(snap, view, dto, kind, path)
    else:
        value = view.values.get(path)
        if value is None:
            return None
        _scalar(dto, kind, path, value)
    return dto
