"""Checks of single values (protocol §7.2): each returns the encoded value or a broken rule.

The limits are the server-side ones of the Neptune protocol; messages name the field and the limit.
Series-wide rules (step order, timestamps, fork point, previews) live in ``_series``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode
from neptune_scale import wire

from despina.store import _model as m

__all__ = [
    "Broken",
    "check_path",
    "encode_assigned",
    "encode_series_point",
    "step_problem",
    "time_problem",
]

MAX_PATH_BYTES = 1024
MAX_STRING_BYTES = 64 * 1024  # an assigned string
MAX_SERIES_STRING_BYTES = (
    1024 * 1024
)  # a string series point (the client splits console lines at 1 MiB)
MAX_STRING_SET_BYTES = 64 * 1024  # all members together
MAX_FILE_REF_BYTES = 4 * 1024  # path + mime type
MAX_HISTOGRAM_BINS = 512
MAX_STEP = 1e12
MAX_RUN_ID_BYTES = 730
MAX_EXPERIMENT_NAME_BYTES = 730
MAX_PROJECT_NAME_BYTES = 512
# google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
MIN_TIMESTAMP_S = -62_135_596_800
MAX_TIMESTAMP_S = 253_402_300_799
# Times of series points and run creation: whole years inside pandas' datetime64[ns] range, so
# every reader (and neptune-query) can show them: 1678-01-01T00:00:00Z .. 2261-12-31T23:59:59Z.
MIN_TIME_S = -9_214_560_000
MAX_TIME_S = 9_214_646_399
NANOS_PER_S = wire.NANOS_PER_SECOND
MICRO_PER_STEP = wire.MICROS_PER_STEP  # Step.micro counts millionths: it must stay below this
NUL = "\x00"  # PostgreSQL text cannot hold it; refused everywhere so both engines answer alike
WRITABLE_SYS_SETS = frozenset({"sys/tags", "sys/group_tags"})


@dataclass(frozen=True, slots=True)
class Broken:
    code: int
    message: str


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def check_path(path: str, *, modify_set: bool = False) -> Broken | None:
    if not path:
        return Broken(IngestCode.FIELD_PATH_EMPTY, "attribute path is empty")
    size = _size(path)
    if size > MAX_PATH_BYTES:
        return Broken(
            IngestCode.FIELD_PATH_EXCEEDS_SIZE_LIMIT,
            f"attribute path is {size} bytes long; the limit is {MAX_PATH_BYTES} UTF-8 bytes",
        )
    if NUL in path:
        return Broken(IngestCode.FIELD_PATH_INVALID, f"attribute path {path!r} contains NUL")
    if path.startswith("sys/") and not (modify_set and path in WRITABLE_SYS_SETS):
        hint = "; only sys/tags and sys/group_tags can be changed, through tags"
        return Broken(IngestCode.FIELD_PATH_NON_WRITABLE, f"attribute {path} is read-only{hint}")
    return None


def step_problem(whole: int, micro: int, field: str = "step") -> str | None:
    """Why ``Step{whole, micro}`` is not a step below ``MAX_STEP``, or None."""
    if micro >= MICRO_PER_STEP:
        return f"{field}: Step.micro is {micro}; it must be below {MICRO_PER_STEP}"
    if whole >= MAX_STEP:
        return f"{field}: Step.whole is {whole}; steps must be below {MAX_STEP:g}"
    return None


def time_problem(seconds: int, nanos: int, field: str = "timestamp") -> str | None:
    """Why a ``Timestamp`` lies outside what readers can show, or None."""
    if not 0 <= nanos < NANOS_PER_S:
        return f"{field}: Timestamp.nanos is {nanos}; it must be in [0, {NANOS_PER_S})"
    if not MIN_TIME_S <= seconds <= MAX_TIME_S:
        return (
            f"{field}: Timestamp.seconds is {seconds}; times must lie between the years "
            "1678 and 2261 (UTC)"
        )
    return None


def _nul(path: str, what: str) -> Broken:
    return Broken(
        IngestCode.FIELD_TYPE_UNSUPPORTED,
        f"{path}: {what} contains NUL ('\\x00'), which the store cannot keep",
    )


def _unsupported(path: str, kind: str | None, where: str) -> Broken:
    return Broken(
        IngestCode.FIELD_TYPE_UNSUPPORTED, f"{path}: a {kind or 'empty'} value cannot be {where}"
    )


def encode_assigned(path: str, value: common_pb2.Value) -> tuple[str, str] | Broken:
    """``assign``: (type, JSON) of a single value, or the rule it breaks."""
    kind = value.WhichOneof("value")
    if kind == "float64":
        return m.FLOAT, m.encode_value(value.float64)
    if kind == "int64":
        return m.INT, m.encode_value(value.int64)
    if kind == "bool":
        return m.BOOL, m.encode_value(value.bool)
    if kind == "string":
        return _string(path, value.string, MAX_STRING_BYTES, m.STRING)
    if kind == "timestamp":
        return _timestamp(path, value.timestamp)
    if kind == "string_set":
        return encode_string_set(path, sorted(set(value.string_set.values)))
    if kind == "file_ref":
        return _file_ref(path, value.file_ref, m.FILE_REF)
    return _unsupported(path, kind, "assigned")


def encode_series_point(path: str, value: common_pb2.Value) -> tuple[str, str] | Broken:
    """``append`` of a non-float value: (series type, JSON of the point), or the rule it breaks."""
    kind = value.WhichOneof("value")
    if kind == "string":
        return _string(path, value.string, MAX_SERIES_STRING_BYTES, m.STRING_SERIES)
    if kind == "histogram":
        return _histogram(path, value.histogram)
    if kind == "file_ref":
        return _file_ref(path, value.file_ref, m.FILE_REF_SERIES)
    return _unsupported(path, kind, "appended to a series")


def encode_string_set(path: str, members: Sequence[str]) -> tuple[str, str] | Broken:
    if any(NUL in member for member in members):
        return _nul(path, "a member of the string set")
    size = sum(_size(member) for member in members)
    if size > MAX_STRING_SET_BYTES:
        return Broken(
            IngestCode.STRING_SET_EXCEEDS_SIZE_LIMIT,
            f"{path}: the string set holds {size} bytes; the limit is {MAX_STRING_SET_BYTES} bytes",
        )
    return m.STRING_SET, m.encode_value(list(members))


def _string(path: str, text: str, limit: int, kind: str) -> tuple[str, str] | Broken:
    if NUL in text:
        return _nul(path, "the string")
    size = _size(text)
    if size > limit:
        return Broken(
            IngestCode.STRING_VALUE_EXCEEDS_SIZE_LIMIT,
            f"{path}: the string is {size} bytes long; the limit is {limit} UTF-8 bytes",
        )
    return kind, m.encode_value(text)


def _timestamp(path: str, ts: object) -> tuple[str, str] | Broken:
    seconds, nanos = ts.seconds, ts.nanos  # type: ignore[attr-defined]
    if not MIN_TIMESTAMP_S <= seconds <= MAX_TIMESTAMP_S or not 0 <= nanos < 1_000_000_000:
        return Broken(
            IngestCode.DATETIME_VALUE_OUT_OF_RANGE,
            f"{path}: datetime {seconds}s is outside the years 1..9999",
        )
    # Nearest millisecond, not floor: the official client sends 05.678 as 05.677999973 (a float
    # second), which must read back as the .678 that was logged. Capped at the last ms of 9999.
    ms = min(seconds * 1000 + (nanos + 500_000) // 1_000_000, MAX_TIMESTAMP_S * 1000 + 999)
    return m.DATETIME, m.encode_value(ms)


def _file_ref(path: str, ref: common_pb2.FileRef, kind: str) -> tuple[str, str] | Broken:
    if NUL in ref.path or NUL in ref.mime_type:
        return _nul(path, "the file's path or mime type")
    size = _size(ref.path) + _size(ref.mime_type)
    if size > MAX_FILE_REF_BYTES:
        return Broken(
            IngestCode.FILE_REF_EXCEEDS_SIZE_LIMIT,
            f"{path}: file metadata is {size} bytes; the limit is {MAX_FILE_REF_BYTES} bytes",
        )
    payload = {"path": ref.path, "size_bytes": ref.size_bytes, "mime_type": ref.mime_type}
    return kind, m.encode_value(payload)


def _histogram(path: str, hist: common_pb2.Histogram) -> tuple[str, str] | Broken:
    edges = list(hist.bin_edges)
    which = hist.WhichOneof("values")
    values: list[float] | list[int] = (
        list(hist.densities.values) if which == "densities" else list(hist.counts.values)
    )
    bins = len(edges) - 1
    if bins > MAX_HISTOGRAM_BINS:
        return Broken(
            IngestCode.HISTOGRAM_TOO_MANY_BINS,
            f"{path}: the histogram has {bins} bins; the limit is {MAX_HISTOGRAM_BINS}",
        )
    if any(math.isnan(edge) for edge in edges):
        return Broken(IngestCode.HISTOGRAM_BIN_EDGES_CONTAINS_NAN, f"{path}: a bin edge is NaN")
    if any(b <= a for a, b in itertools.pairwise(edges)):
        return Broken(
            IngestCode.HISTOGRAM_BIN_EDGES_NOT_INCREASING,
            f"{path}: bin edges must be strictly increasing",
        )
    if which is None or len(values) != max(bins, 0) or not edges:
        return Broken(
            IngestCode.HISTOGRAM_VALUES_LENGTH_DOESNT_MATCH_BINS,
            f"{path}: {len(values)} {which or 'counts'} for {len(edges)} bin edges; "
            "there must be one value fewer than edges",
        )
    payload = {
        "type": m.HISTOGRAM_DENSITY if which == "densities" else m.HISTOGRAM_COUNTING,
        "edges": edges,
        "values": values,
    }
    return m.HISTOGRAM_SERIES, m.encode_value(payload)
