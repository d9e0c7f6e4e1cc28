"""Reading exported parts with pyarrow, a bounded batch at a time, and their columns as numpy.

Parts are read batch by batch (``BATCH_ROWS`` rows), never a run or a part at once, so memory
stays bounded whatever the export's size. Steps (``decimal128(18, 6)``) become integers in
millionths without passing through floats: the decimal's unscaled 128-bit integers are read
straight from the Arrow buffer (18 digits fit in their low 64 bits).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = ["BATCH_ROWS", "STEP_TYPE", "SYS_PREFIX", "batches", "millis", "step_micros"]

BATCH_ROWS = 65_536
STEP_TYPE = pa.decimal128(18, 6)
SYS_PREFIX = "sys/"
READ_BUFFER_BYTES = 1 << 20

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


def batches(path: Path, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The part's rows in file order, ``BATCH_ROWS`` at a time."""
    # Paths and types as dictionaries: a batch repeats a few names many times.
    # pre_buffer off and a read buffer: column chunks are streamed, not loaded whole (an
    # exporter row group holds up to a million rows; ~90 MB instead of ~140 MB of peak).
    with pq.ParquetFile(
        path,
        read_dictionary=["attribute_path", "attribute_type"],
        pre_buffer=False,
        buffer_size=READ_BUFFER_BYTES,
    ) as part:
        yield from part.iter_batches(batch_size=BATCH_ROWS, columns=columns)


def _valid(array: pa.Array) -> B:
    return np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def step_micros(array: pa.Array) -> tuple[I64, B]:
    """Steps in millionths and which rows have one."""
    if array.type != STEP_TYPE:
        array = array.cast(STEP_TYPE)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    data = array.buffers()[1]
    words = np.frombuffer(data, dtype="<i8") if data is not None else np.zeros(0, dtype=np.int64)
    low = words[2 * array.offset : 2 * (array.offset + len(array)) : 2].astype(np.int64)
    valid = _valid(array)
    return np.where(valid, low, 0), valid


def millis(array: pa.Array) -> tuple[I64, B]:
    """Epoch milliseconds of a ``timestamp(ms)`` column and which rows have one."""
    as_int = pc.fill_null(array.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64()), 0)
    return np.asarray(as_int.to_numpy(zero_copy_only=False), dtype=np.int64), _valid(array)
