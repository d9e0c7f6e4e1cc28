"""An import killed half way completes on the next run, without a duplicate point."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from despina.query import Reader
from export_builder import SCHEMA, T0, ExportWriter, sanitize

pytestmark = pytest.mark.slow
PROJECT = "acme/resume"
RUNS = [f"run-{i}" for i in range(4)]
POINTS = 150_000  # per run, in two series
MAIN = "import sys; from despina.cli import main; sys.exit(main())"


def _write_big_run(w: ExportWriter, run: str) -> None:
    """Rows built column-wise (a list of dicts of this size would be slow to build)."""
    import pyarrow.parquet as pq

    half = POINTS // 2
    steps = np.concatenate([np.arange(half), np.arange(half)]) * 1_000_000 + 250_000  # x.25
    paths = ["train/loss"] * half + ["train/acc"] * half
    n = len(paths)
    t0 = int(T0.timestamp() * 1000)
    columns = {
        "project_id": pa.array([PROJECT] * n),
        "run_id": pa.array([run] * n),
        "attribute_path": pa.array(paths),
        "attribute_type": pa.array(["float_series"] * n),
        "step": pa.Array.from_buffers(
            pa.decimal128(18, 6), n,
            [None, pa.py_buffer(np.stack([steps, np.zeros(n, np.int64)], axis=1).tobytes())],
        ),
        "timestamp": pa.array(t0 + np.tile(np.arange(half), 2) * 10, pa.timestamp("ms", tz="UTC")),
        "float_value": pa.array(np.random.default_rng(0).random(n)),
    }  # fmt: skip
    table = pa.table(
        {f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in SCHEMA}, schema=SCHEMA
    )
    folder = w.data / sanitize(PROJECT)
    folder.mkdir(parents=True, exist_ok=True)
    sys_table = pa.Table.from_pylist(
        [{**{c: None for c in SCHEMA.names}, "project_id": PROJECT, "run_id": run,
          "attribute_path": "sys/creation_time", "attribute_type": "datetime",
          "datetime_value": T0}], schema=SCHEMA,
    )  # fmt: skip
    pq.write_table(sys_table, folder / f"{sanitize(run)}_part_1.parquet")
    pq.write_table(table, folder / f"{sanitize(run)}_part_0.parquet", row_group_size=50_000)


def _start(data: Path, store: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEPTUNE_", "DESPINA_"))}
    return subprocess.Popen(
        [sys.executable, "-c", MAIN, "import", str(data), "--store", str(store), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _done_lines(data: Path) -> int:
    folder = data / ".despina-import"
    return (
        sum(len(p.read_text().splitlines()) for p in folder.glob("*.jsonl"))
        if folder.exists()
        else 0
    )


def test_killed_import_completes_without_duplicates(tmp_path: Path) -> None:
    w = ExportWriter(tmp_path)
    for run in RUNS:
        _write_big_run(w, run)
    store = tmp_path / "store"
    process = _start(w.data, store)
    deadline = time.monotonic() + 180
    while _done_lines(w.data) < 1 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # well inside the next run
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = _done_lines(w.data)
    assert 1 <= first < len(RUNS), "the kill should land between the first and the last run"
    result = subprocess.run(
        [sys.executable, "-c", MAIN, "import", str(w.data), "--store", str(store), "--no-progress"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    # The summary's count (the table's rows may be cut to the terminal's width).
    assert f"({first} already imported, {len(RUNS) - first} imported)" in result.stdout
    with Reader(store) as reader:
        frame = reader.fetch_metrics(PROJECT, None, ["train/loss", "train/acc"])
    for run in RUNS:
        points = frame.loc[run]
        assert len(points) == POINTS // 2
        assert points.index.is_unique and points.index.is_monotonic_increasing
        assert points["train/loss"].notna().all() and points["train/acc"].notna().all()
        assert points.index[0] == 0.25
