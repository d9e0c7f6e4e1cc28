"""Float-chunk arrays on disk: compact and lossless.

A chunk holds three arrays of ``count`` items: steps (float64), values (float64) and timestamps
(int64 epoch ms). Each is stored in one of two forms:

- **raw**: ``8 × count`` little-endian bytes. Every chunk written before this codec existed is
  raw, and so is a chunk still small enough to be merged with the next batch
  (``ENCODE_FROM_POINTS``): it is rewritten on every append, and encoding it each time would
  cost more than it saves.
- **encoded**: one tag byte, then the encoding. Kept only when shorter than the raw form, so the
  two can never be confused: a stored array is raw exactly when its length is ``8 × count``.

Encodings (sizes measured on 1,024-point chunks; whole stores in
``benchmarks/store/bench_codec.py``):

- ``TAG_RANGE``: steps that are consecutive integers (the usual case) are stored as the first
  step alone: 9 bytes per chunk.
- ``TAG_PCO``: pcodec (a lossless numeric codec: every bit of every float64 comes back, NaN
  payloads, -0.0 and subnormals included). It finds what makes a series compressible by
  itself: decimal steps as multiples of 0.1, values that came from float32 tensors, repeated
  values of a step-function learning rate, and timestamps through their deltas. A noisy float64
  loss needs about 6.8 bytes per point, a float32-derived one about 3.4, a learning rate 0.2,
  timestamps 0.7. Values are not delta-coded (noise makes deltas no smaller and the search for
  the best delta costs time); steps and timestamps are.

Chunk summaries (counts, min/max, first/last) stay in their own uncompressed columns, so bucket
queries decode only the chunks they have to look into.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from pcodec import ChunkConfig, DeltaSpec, ModeSpec, standalone

from despina.store._model import FloatChunk
from despina.store._series import CHUNK_MERGE_BELOW

__all__ = [
    "decode_floats",
    "decode_ints",
    "encode_steps",
    "encode_timestamps",
    "encode_values",
    "is_raw",
    "loaded_chunk",
    "stored_arrays",
]

TAG_RANGE = 1
TAG_PCO = 2
# Smaller chunks are merged with the next batch and stay raw; from this size on a chunk is never
# rewritten by an append.
ENCODE_FROM_POINTS = CHUNK_MERGE_BELOW

# Settings measured on 1,024-point arrays (CPU time, best of 5): values at level 2 of 12 with
# pcodec's mode search (a float32-derived accuracy 3.4 B/point, 33 µs; at level 0 4.2 B/point);
# timestamps delta-coded at level 0 (0.66 B/point in 6 µs, where the automatic delta search
# takes 37 µs for 0.62); steps that are not consecutive integers like values, but delta-coded.
_STEPS = ChunkConfig(compression_level=2, delta_spec=DeltaSpec.auto(), mode_spec=ModeSpec.auto())
_VALUES = ChunkConfig(compression_level=2, delta_spec=DeltaSpec.no_op(), mode_spec=ModeSpec.auto())
_TIMES = ChunkConfig(
    compression_level=0, delta_spec=DeltaSpec.try_consecutive(1), mode_spec=ModeSpec.classic()
)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def stored_arrays(chunk: FloatChunk) -> tuple[bytes, bytes, bytes]:
    """The steps, values and timestamps columns to store for a chunk (raw while it may still
    be merged, encoded from then on)."""
    if chunk.count < ENCODE_FROM_POINTS:
        return chunk.steps, chunk.values, chunk.timestamps
    return (
        encode_steps(np.frombuffer(chunk.steps, dtype="<f8")),
        encode_values(np.frombuffer(chunk.values, dtype="<f8")),
        encode_timestamps(np.frombuffer(chunk.timestamps, dtype="<i8")),
    )


def loaded_chunk(row: Sequence[Any]) -> FloatChunk:
    """A chunk read back (summary columns, then the three stored arrays), its arrays raw."""
    chunk = FloatChunk(*row)
    n = chunk.count
    if is_raw(chunk.steps, n) and is_raw(chunk.values, n) and is_raw(chunk.timestamps, n):
        return chunk
    return dataclasses.replace(
        chunk,
        steps=decode_floats(chunk.steps, n),
        values=decode_floats(chunk.values, n),
        timestamps=decode_ints(chunk.timestamps, n),
    )


def is_raw(blob: bytes, count: int) -> bool:
    """Whether a stored array is in the raw form (an empty blob is an array not read)."""
    return len(blob) == 8 * count or not blob


def _shorter(encoded: bytes, raw: F64 | I64) -> bytes:
    return (
        encoded
        if len(encoded) < 8 * len(raw)
        else raw.astype(raw.dtype.newbyteorder("<")).tobytes()
    )


def encode_steps(steps: F64) -> bytes:
    n = len(steps)
    if n and np.isfinite(steps[0]):
        expected = steps[0] + np.arange(n, dtype=np.float64)
        if np.array_equal(expected.view(np.uint64), steps.view(np.uint64)):
            return _shorter(
                bytes([TAG_RANGE]) + np.float64(steps[0]).astype("<f8").tobytes(), steps
            )
    return _pco(steps, _STEPS)


def encode_values(values: F64) -> bytes:
    return _pco(values, _VALUES)


def encode_timestamps(timestamps: I64) -> bytes:
    return _pco(timestamps, _TIMES)


def _pco(array: F64 | I64, config: ChunkConfig) -> bytes:
    if len(array) == 0:
        return b""
    encoded = bytes([TAG_PCO]) + standalone.simple_compress(np.ascontiguousarray(array), config)
    return _shorter(encoded, array)


def decode_floats(blob: bytes, count: int) -> bytes:
    """Raw little-endian float64 bytes of a stored steps or values array."""
    if is_raw(blob, count):
        return blob
    tag = blob[0]
    if tag == TAG_RANGE:
        first = float(np.frombuffer(blob, dtype="<f8", count=1, offset=1)[0])
        steps: F64 = first + np.arange(count, dtype=np.float64)
        return steps.astype("<f8").tobytes()
    return _decoded(blob, count, np.float64)


def decode_ints(blob: bytes, count: int) -> bytes:
    """Raw little-endian int64 bytes of a stored timestamps array."""
    if is_raw(blob, count):
        return blob
    return _decoded(blob, count, np.int64)


def _decoded(blob: bytes, count: int, dtype: type[np.float64] | type[np.int64]) -> bytes:
    if blob[0] != TAG_PCO:
        raise ValueError(f"unknown float-chunk encoding tag {blob[0]}")
    array = standalone.simple_decompress(bytes(blob[1:]))
    if array.dtype != dtype or len(array) != count:
        raise ValueError(
            f"float-chunk array decoded to {len(array)} {array.dtype} items, expected {count}"
        )
    raw: bytes = array.astype(np.dtype(dtype).newbyteorder("<"), copy=False).tobytes()
    return raw
