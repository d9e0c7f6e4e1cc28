"""The importer's pieces on their own: the column-wise encoder, steps from decimals, layout."""

from __future__ import annotations

import math
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from despina.importer._encode import MICROS, encode_float_points
from despina.importer._layout import find_runs
from despina.importer._read import step_micros
from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2


def _reference(path: str, steps: list[int], times: list[int], values: list[float]) -> bytes:
    """The same snapshots built with the neptune-api classes."""
    batch = common_pb2.UpdateRunSnapshots()
    for step, ms, value in zip(steps, times, values, strict=True):
        snap = batch.snapshots.add()
        snap.step.whole, snap.step.micro = divmod(step, MICROS)
        snap.step.SetInParent()
        seconds, rest = divmod(ms, 1000)
        snap.timestamp.seconds, snap.timestamp.nanos = seconds, rest * 1_000_000
        snap.timestamp.SetInParent()
        snap.append[path].float64 = value
    data: bytes = batch.SerializeToString()
    return data


@pytest.mark.parametrize("path", ["loss", "a/" + "é" * 70])  # a key whose length needs 2 bytes
def test_float_points_encode_as_the_protobuf_classes_do(path: str) -> None:
    rng = np.random.default_rng(7)
    steps = np.sort(rng.integers(0, 10**17, 500))
    steps[:4] = [0, 1, MICROS, 10**17 - 1]  # step 0, a micro only, a whole only, the largest
    times = rng.integers(-(10**11), 10**13, 500)
    times[:3] = [0, 999, -1]  # no field, nanos only, before 1970 (10-byte seconds)
    values = rng.standard_normal(500)
    values[:3] = [math.nan, math.inf, -math.inf]
    got = encode_float_points(path, steps, times, values)
    assert got == _reference(path, steps.tolist(), times.tolist(), values.tolist())


def test_decimal_steps_become_exact_millionths() -> None:
    steps = [Decimal("0.000001"), Decimal("123456789012.999999"), None, Decimal("2.5")]
    array = pa.array(steps, pa.decimal128(18, 6))
    micros, valid = step_micros(array.slice(1))
    assert micros.tolist() == [123456789012999999, 0, 2500000]
    assert valid.tolist() == [True, False, True]


def test_layout_finds_complete_interrupted_and_leftover_parts(tmp_path: Path) -> None:
    project = tmp_path / "acme_x-0123456789abcdef"
    project.mkdir()
    for name in ["r-1_part_0.parquet", "r-1_part_1.parquet", "r-1_part_2.parquet.tmp",
                 "r-2_part_1.parquet.tmp", "r-2_part_0.parquet.tmp", "notes.txt"]:  # fmt: skip
        (project / name).write_bytes(b"")
    (project / "models").mkdir()
    runs, registry = find_runs(tmp_path)
    assert [(r.prefix, r.complete, sorted(r.parts), sorted(r.leftovers)) for r in runs] == [
        ("r-1", True, [0, 1], [2]),
        ("r-2", False, [], [0, 1]),
    ]
    assert registry == [project / "models"]
    assert [r.prefix for r in find_runs(project)[0]] == ["r-1", "r-2"]  # one project folder


def test_without_pyarrow_the_command_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "from despina.cli import main\n"
        f"sys.exit(main(['import', {str(tmp_path)!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "pip install 'despina[parquet]'" in done.stderr
