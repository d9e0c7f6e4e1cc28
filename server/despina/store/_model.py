"""Rows the store keeps, shared by every engine, and the encoding of attribute values.

Values of scalar attributes travel between the rules and the engines as JSON text (``dumps`` keeps
floats exact and writes NaN/Infinity), so an engine needs one text column per value and never
interprets it. Steps are doubles (``whole + micro / 1e6``), times are epoch milliseconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ATTRIBUTE_TYPES",
    "HISTOGRAM_COUNTING",
    "HISTOGRAM_DENSITY",
    "SERIES_TYPES",
    "FloatChunk",
    "NewRun",
    "Point",
    "ProjectRow",
    "RunRow",
    "SeriesState",
    "decode_value",
    "encode_value",
    "public_value",
]

# Attribute type names as the Neptune read side spells them (protocol §5.2).
FLOAT = "float"
INT = "int"
BOOL = "bool"
STRING = "string"
DATETIME = "datetime"
STRING_SET = "stringSet"
FILE_REF = "fileRef"
FLOAT_SERIES = "floatSeries"
STRING_SERIES = "stringSeries"
HISTOGRAM_SERIES = "histogramSeries"
FILE_REF_SERIES = "fileRefSeries"

SCALAR_TYPES = frozenset({FLOAT, INT, BOOL, STRING, DATETIME, STRING_SET, FILE_REF})
SERIES_TYPES = frozenset({FLOAT_SERIES, STRING_SERIES, HISTOGRAM_SERIES, FILE_REF_SERIES})
ATTRIBUTE_TYPES = SCALAR_TYPES | SERIES_TYPES


def encode_value(value: Any) -> str:
    """JSON text for a decoded value (floats keep all digits, NaN/±Inf included)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# Histogram kinds as the hosted service names them on the read side (``ProtoHistogram.type``).
HISTOGRAM_COUNTING = "COUNTING"
HISTOGRAM_DENSITY = "DENSITY"
# Stores written before the kinds took the service's names hold these; renamed when read.
_LEGACY_HISTOGRAM_KINDS = {"counts": HISTOGRAM_COUNTING, "densities": HISTOGRAM_DENSITY}


def decode_value(text: str) -> Any:
    value = json.loads(text)
    return public_value(value) if type(value) is dict else value


def public_value(value: dict[str, Any]) -> dict[str, Any]:
    """A decoded dict value as readers see it: a histogram with an old kind name gets the
    service's name; any other dict is returned as it is."""
    kind = _LEGACY_HISTOGRAM_KINDS.get(value.get("type"))  # type: ignore[arg-type]
    return value if kind is None or "edges" not in value else {**value, "type": kind}


@dataclass(frozen=True, slots=True)
class ProjectRow:
    pk: int
    name: str  # "workspace/project"
    key: str  # prefix of short run ids, e.g. "DEFA" in "DEFA-3"


@dataclass(frozen=True, slots=True)
class NewRun:
    """A run about to be created; the engine assigns ``pk``."""

    project_pk: int
    custom_id: str
    short_id: str
    experiment: str | None
    creation_ms: int
    family: str | None
    parent_pk: int | None
    fork_step: float | None
    requested_parent: str | None  # "workspace/project/run_id" asked for, kept when unknown
    inherit_configs: bool
    depth: int


@dataclass(frozen=True, slots=True)
class RunRow:
    pk: int
    project_pk: int
    custom_id: str
    short_id: str
    experiment: str | None
    is_head: bool
    creation_ms: int
    modification_ms: int
    family: str | None
    parent_pk: int | None
    fork_step: float | None
    requested_parent: str | None
    inherit_configs: bool
    depth: int


@dataclass(slots=True)
class SeriesState:
    """One series of one run: what the rules need, and the aggregates tables show.

    ``last_*`` describe the last committed (non-preview) point; ``vmin``/``vmax``/``vsum``/
    ``vsumsq`` cover finite float values only (None when there are none).
    """

    pk: int | None
    run_pk: int
    path: str
    type: str
    count: int = 0
    first_step: float | None = None
    last_step: float | None = None
    last_ts: int | None = None
    last_value: str | None = None  # JSON text, see encode_value
    finite_count: int = 0
    vmin: float | None = None
    vmax: float | None = None
    vsum: float = 0.0
    vsumsq: float = 0.0
    has_preview: bool = False

    def stats(self) -> tuple[Any, ...]:
        """The columns apply updates, in the order both engines' schemas list them."""
        return (
            self.count,
            self.first_step,
            self.last_step,
            self.last_ts,
            self.last_value,
            self.finite_count,
            self.vmin,
            self.vmax,
            self.vsum,
            self.vsumsq,
            self.has_preview,
        )


@dataclass(frozen=True, slots=True)
class FloatChunk:
    """A run of consecutive committed points of one float series, packed as little-endian arrays.

    ``steps``/``values`` are float64, ``timestamps`` int64 epoch ms; the summary columns let bucket
    queries skip the arrays when the chunk lies wholly inside one bucket. ``first_f*``/``last_f*``
    are the first and last *finite* points (None when the chunk holds no finite value).
    """

    series_pk: int
    first_step: float
    last_step: float
    count: int
    finite_count: int
    nan_count: int
    pinf_count: int
    ninf_count: int
    vmin: float | None
    vmax: float | None
    vsum: float
    first_fstep: float | None
    first_fvalue: float | None
    last_fstep: float | None
    last_fvalue: float | None
    steps: bytes
    values: bytes
    timestamps: bytes

    def summary(self) -> tuple[Any, ...]:
        """Every field but the arrays, in the order both engines' schemas list them."""
        return (
            self.series_pk,
            self.first_step,
            self.last_step,
            self.count,
            self.finite_count,
            self.nan_count,
            self.pinf_count,
            self.ninf_count,
            self.vmin,
            self.vmax,
            self.vsum,
            self.first_fstep,
            self.first_fvalue,
            self.last_fstep,
            self.last_fvalue,
        )


@dataclass(frozen=True, slots=True)
class Point:
    """One point of a non-float series, or a preview point of any series (value as JSON text)."""

    step: float
    ts: int
    value: str
    is_preview: bool = False
    completion: float | None = None
