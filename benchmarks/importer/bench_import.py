"""``despina import`` throughput and memory: parquet export → embedded store / local server.

Run: ``python benchmarks/importer/bench_import.py [--points 20000000] [--folder DIR]``.
Builds one exporter-shaped run (``--metrics`` float series logged together, rows step-major
as the 3.x exporter writes them, decimal steps, ~50 MB snappy parts), then imports it with the
real command in a child process: into an embedded store, and into a ``despina server`` on
127.0.0.1 over HTTP with an API token. Prints one table: points/s (wall clock, including the
child's start-up and planning), the child's CPU time and its peak RSS, next to the targets.
The machine may be shared: the first row (a bare Python loop) says how fast it is right now.

Measured on 2026-12-03 after merging main (2 CPUs shared with other jobs, load average ~9,
20M points in 191 MB of parquet): embedded store 195k points/s wall, 471k points/s of importer
CPU, peak RSS 354 MB (the in-process store's 64 MiB SQLite page cache and pandas, imported by the
CLI's shared helpers, included); despina server over HTTP 138k points/s wall, 756k points/s of
importer CPU (the server's own CPU not counted), 290 MB.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "server" / "importer"))
from export_builder import SCHEMA, T0, sanitize  # noqa: E402

PROJECT = "bench/import"
RUN = "bench-run"
CHUNK = 1_000_000
PART_ROWS = 6_000_000  # ~50 MB snappy, as the exporter rolls parts
# The child reports its own peak RSS (RUSAGE_CHILDREN would give the largest child so far).
MAIN = (
    "import atexit, resource, sys\n"
    "atexit.register(lambda: print('peak-rss-kib', resource.getrusage(resource.RUSAGE_SELF)"
    ".ru_maxrss, file=sys.stderr))\n"
    "from despina.cli import main; sys.exit(main())"
)


def python_loop_ns() -> float:
    start = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i
    return (time.perf_counter() - start) / 2_000_000 * 1e9


def _chunk(first_row: int, rows: int, metrics: int) -> pa.Table:
    index = np.arange(first_row, first_row + rows)
    step_index, metric = np.divmod(index, metrics)
    micros = step_index * 1_000_000 + 500_000  # x.5: decimal steps
    t0 = int(T0.timestamp() * 1000)
    names = np.array([f"train/metric_{i}" for i in range(metrics)], dtype=object)
    step = pa.Array.from_buffers(
        pa.decimal128(18, 6), rows,
        [None, pa.py_buffer(np.stack([micros, np.zeros(rows, np.int64)], axis=1).tobytes())],
    )  # fmt: skip
    columns = {
        "project_id": pa.array(np.full(rows, PROJECT, dtype=object)).dictionary_encode(),
        "run_id": pa.array(np.full(rows, RUN, dtype=object)).dictionary_encode(),
        "attribute_path": pa.array(names[metric]),
        "attribute_type": pa.array(np.full(rows, "float_series", dtype=object)),
        "step": step,
        "timestamp": pa.array(t0 + step_index * 37, pa.timestamp("ms", tz="UTC")),
        "float_value": pa.array(np.random.default_rng(first_row).random(rows)),
    }
    arrays = [columns.get(f.name, pa.nulls(rows, f.type)) for f in SCHEMA]
    arrays = [
        a.cast(f.type) if a.type != f.type else a for a, f in zip(arrays, SCHEMA, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def build_export(data: Path, points: int, metrics: int) -> None:
    folder = data / sanitize(PROJECT)
    folder.mkdir(parents=True, exist_ok=True)
    writer, part, written = None, -1, 0
    for first in range(0, points, CHUNK):
        if writer is None or written >= PART_ROWS:
            if writer is not None:
                writer.close()
            part, written = part + 1, 0
            writer = pq.ParquetWriter(folder / f"{sanitize(RUN)}_part_{part}.parquet", SCHEMA)
        rows = min(CHUNK, points - first)
        writer.write_table(_chunk(first, rows, metrics))
        written += rows
    assert writer is not None
    writer.close()


def run_import(data: Path, target: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak RSS (bytes) of one ``despina import`` child."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEPTUNE_", "DESPINA_"))}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MAIN, "import", str(data), *target, "--no-progress"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stdout + done.stderr
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    peak_kib = int(done.stderr.rsplit("peak-rss-kib", 1)[1].split()[0])
    return wall, cpu, peak_kib * 1024


def into_server(data: Path, folder: Path) -> tuple[float, float, int]:
    from despina.api import ServerProcess
    from despina.auth import KeyRing, ServerDatabase, encode_api_token

    shutil.rmtree(folder / "server-store", ignore_errors=True)
    location = str(folder / "server-store")
    key, _ = KeyRing(ServerDatabase(location)).create_key("bench")
    with ServerProcess(location, folder / "server.log") as server:
        return run_import(data, ["--api-token", encode_api_token(server.url, key)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=20_000_000)
    parser.add_argument("--metrics", type=int, default=10)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="keep an export already in --folder")
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="despina-bench-import-"))
    data = folder / "data"
    start = time.perf_counter()
    if not (args.reuse and data.exists()):
        build_export(data, args.points, args.metrics)
    built = time.perf_counter() - start
    size = sum(p.stat().st_size for p in data.rglob("*.parquet"))
    rows = [
        ("python loop (machine speed reference)", f"{python_loop_ns():.0f} ns/iter", "", "", "")
    ]
    shutil.rmtree(folder / "store", ignore_errors=True)
    shutil.rmtree(data / ".despina-import", ignore_errors=True)  # the progress record
    wall, cpu, rss = run_import(data, ["--store", str(folder / "store")])
    n = args.points
    rate, cpu_rate, peak = f"{n / wall:,.0f} points/s", f"{n / cpu:,.0f} points/s", rss / 2**20
    target = "≥ 1,000,000 points/s; RSS < 300 MB"
    rows.append(("parquet → embedded store", rate, cpu_rate, f"{peak:,.0f} MB", target))
    if not args.skip_server:
        wall, cpu, rss = into_server(data, folder)
        rows.append(("parquet → despina server (HTTP, token)", f"{n / wall:,.0f} points/s",
                     f"{n / cpu:,.0f} points/s", f"{rss / 2**20:,.0f} MB",
                     "≥ 300,000 points/s"))  # fmt: skip
    print(
        f"{n:,} points ({args.metrics} series, decimal steps) in {size / 2**20:,.0f} MB of "
        f"parquet, built in {built:.0f} s; import wall clock includes start-up and planning"
    )
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    head = ("benchmark", "wall clock", "importer CPU", "importer peak RSS", "target")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(5)]
    for r in [head, *rows]:
        print("  ".join(f"{c!s:<{w}}" for c, w in zip(r, widths, strict=True)))
    print(f"(folder: {folder})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
