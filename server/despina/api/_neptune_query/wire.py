"""A vectorized protobuf encoder for float series answers (up to a million points per series).

Building a million ``ProtoFloatPointValueDTO`` messages one by one costs seconds; here each point
becomes one fixed-size record written by numpy. Every record has the same length because the
timestamp varint is padded to the widest one in the answer (overlong varints are valid protobuf:
parsers read up to ten 7-bit groups) and, when the request asked for previews or the answer holds
any preview point, every record carries ``is_preview`` and ``completion_ratio``. The bytes decode as
``ProtoFloatSeriesValuesResponseDTO`` (checked against the generated class in the tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["FloatSeriesAnswer", "encode_float_series_response"]

_VARINT_GROUP_BITS = 7
_MAX_VARINT_BYTES = 10
# Tags: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
_TAG_TS, _TAG_STEP, _TAG_VALUE, _TAG_PREVIEW, _TAG_COMPLETION = 0x08, 0x11, 0x19, 0x20, 0x2D
_TAG_POINT = 0x12  # ProtoFloatSeriesValuesDTO.values
_TAG_TOTAL = 0x08  # ProtoFloatSeriesValuesDTO.total_item_count
_TAG_REQUEST_ID, _TAG_SERIES = 0x0A, 0x12  # ProtoFloatSeriesValuesSingleSeriesResponseDTO
_TAG_ENTRY = 0x0A  # ProtoFloatSeriesValuesResponseDTO.series


@dataclass
class FloatSeriesAnswer:
    request_id: str
    total: int
    steps: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]
    timestamps: npt.NDArray[np.int64]
    preview: npt.NDArray[np.bool_]
    completion: npt.NDArray[np.float64]  # 1.0 for committed points, NaN: a preview without one
    # The request asked for previews: every point then carries is_preview and completion_ratio,
    # so a committed point reads as complete (1.0), not as the proto default 0.0.
    with_previews: bool = False


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int64 as two's complement, as protobuf does
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= _VARINT_GROUP_BITS
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _width(timestamps: npt.NDArray[np.int64]) -> int:
    if not len(timestamps) or int(timestamps.min()) < 0:
        return _MAX_VARINT_BYTES
    bits = max(int(timestamps.max()).bit_length(), 1)
    return -(-bits // _VARINT_GROUP_BITS)


def _points(answer: FloatSeriesAnswer) -> bytes:
    n = len(answer.steps)
    if not n:
        return b""
    width = _width(answer.timestamps)
    previews = answer.with_previews or bool(answer.preview.any())
    size = 1 + width + 9 + 9 + (2 + 5 if previews else 0)
    rec = np.zeros((n, 2 + size), dtype=np.uint8)
    rec[:, 0], rec[:, 1], rec[:, 2] = _TAG_POINT, size, _TAG_TS
    ts = answer.timestamps.astype(np.int64).view(np.uint64)
    for k in range(width):
        group = ((ts >> np.uint64(_VARINT_GROUP_BITS * k)) & np.uint64(0x7F)).astype(np.uint8)
        rec[:, 3 + k] = group | (0x80 if k < width - 1 else 0)
    at = 3 + width
    rec[:, at] = _TAG_STEP
    rec[:, at + 1 : at + 9] = answer.steps.astype("<f8").view(np.uint8).reshape(n, 8)
    rec[:, at + 9] = _TAG_VALUE
    rec[:, at + 10 : at + 18] = answer.values.astype("<f8").view(np.uint8).reshape(n, 8)
    if previews:
        at += 18
        rec[:, at] = _TAG_PREVIEW
        rec[:, at + 1] = answer.preview.astype(np.uint8)
        rec[:, at + 2] = _TAG_COMPLETION
        ratio = np.nan_to_num(answer.completion, nan=0.0).astype("<f4")
        rec[:, at + 3 : at + 7] = ratio.view(np.uint8).reshape(n, 4)
    return rec.tobytes()


def _entry(answer: FloatSeriesAnswer) -> bytes:
    series = bytes([_TAG_TOTAL]) + _varint(answer.total) + _points(answer)
    request_id = answer.request_id.encode()
    body = (
        bytes([_TAG_REQUEST_ID])
        + _varint(len(request_id))
        + request_id
        + bytes([_TAG_SERIES])
        + _varint(len(series))
        + series
    )
    return bytes([_TAG_ENTRY]) + _varint(len(body)) + body


def encode_float_series_response(answers: Sequence[FloatSeriesAnswer]) -> bytes:
    """The serialized ``ProtoFloatSeriesValuesResponseDTO`` holding ``answers`` in order."""
    return b"".join(_entry(a) for a in answers)
