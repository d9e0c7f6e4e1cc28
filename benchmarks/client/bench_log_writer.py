"""Operation-log writer benchmark: what ``append_snapshot`` and a segment roll-over cost.

The writer alone (no ``Run``, no sender), appending ``--appends`` snapshot records of 60 bytes
into segments shrunk to ``--segment-mib`` so the run rolls over many times; once without and
once with a thread doing what the monitor does every 0.1 s (reserve space and fault in pages
ahead of the writer, where the code has that). Each call is timed on its own; calls that rolled
over to a new segment are reported apart.

Side by side: this checkout and ``--against REV`` (default HEAD), whose ``core/`` is unpacked
with ``git archive`` into a temporary folder and measured in a child interpreter. A table per
column: mean ns per append (wall, and CPU time of the logging thread, which includes the
timing calls), p99, the slowest call, and the mean of the roll-over calls; each the best of
``--repeat`` runs (by mean), run alternately so both columns see the same load. ``--dir`` puts
the log on another file system (e.g. /dev/shm, a tmpfs).

Usage: ``python benchmarks/client/bench_log_writer.py [--against REV] [--appends N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RECORD = b"\x3b" + bytes(59)  # a length varint and 59 bytes: the size of a 4-float snapshot
TICK_S = 0.1
AHEAD = 8 * 1024 * 1024


def measure(appends: int, segment_mib: int, monitor: bool) -> dict[str, float]:
    from neptune_scale import _oplog

    _oplog.SEGMENT_BYTES = segment_mib * 1024 * 1024
    folder = Path(tempfile.mkdtemp(prefix="bench-writer-", dir=os.environ.get("BENCH_DIR")))
    writer = _oplog.LogWriter(folder, 0, 0)
    stop = threading.Event()

    def background() -> None:  # what the monitor does between flushes
        while not stop.wait(TICK_S):
            if hasattr(writer, "reserve_ahead"):
                writer.reserve_ahead(AHEAD)
            writer.prefault(AHEAD)
            writer.flush()

    thread = threading.Thread(target=background, daemon=True)
    if monitor:
        thread.start()
    append, clock = writer.append_snapshot, time.perf_counter_ns
    durations, rolls = [0] * appends, []
    segment = 0
    cpu0 = time.thread_time_ns()
    for i in range(appends):
        t0 = clock()
        append(RECORD)
        durations[i] = clock() - t0
        if writer.position // _oplog.SEGMENT_BYTES != segment:
            segment = writer.position // _oplog.SEGMENT_BYTES
            rolls.append(durations[i])
    cpu = time.thread_time_ns() - cpu0  # less sensitive to other processes than wall time
    stop.set()
    if monitor:
        thread.join()
    writer.close()
    shutil.rmtree(folder, ignore_errors=True)
    ordered = sorted(durations)
    return {
        "mean ns/append": sum(durations) / appends,
        "CPU ns/append (with the timing)": cpu / appends,
        "p99 ns": ordered[int(appends * 0.99)],
        "slowest call µs": ordered[-1] / 1000,
        "roll-overs": len(rolls),
        "mean roll-over µs": sum(rolls) / max(len(rolls), 1) / 1000,
    }


def child_results(core: Path, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(core), str(REPO / "server")])}
    if args.dir:
        env["BENCH_DIR"] = args.dir
    command = [sys.executable, __file__, "--child", "--appends", str(args.appends)]
    command += ["--segment-mib", str(args.segment_mib)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    parsed: dict[str, dict[str, float]] = json.loads(out)
    return parsed


def unpack(rev: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "core"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "core"


def table(columns: dict[str, dict[str, dict[str, float]]]) -> str:
    names = list(columns)
    rows = [["measurement", *names]]
    for case in ("writer alone", "with the monitor's thread"):
        for metric in next(iter(columns.values()))[case]:
            rows.append([f"{case}: {metric}"] + [_fmt(columns[n][case][metric]) for n in names])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", default="HEAD", help="git revision to compare with")
    parser.add_argument("--appends", type=int, default=2_000_000)
    parser.add_argument("--segment-mib", type=int, default=4)
    parser.add_argument("--dir", default=None, help="where the logs go (default: the temp dir)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best is kept")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        results: dict[str, Any] = {
            case: measure(args.appends, args.segment_mib, monitor)
            for case, monitor in (("writer alone", False), ("with the monitor's thread", True))
        }
        print(json.dumps(results))
        return 0
    cores = {"this checkout": REPO / "core"}
    best: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-writer-rev-") as tmp:
        cores = {args.against: unpack(args.against, Path(tmp)), **cores}
        for _ in range(args.repeat):  # alternating, so both see the same load; best run kept
            for name, core in cores.items():
                for case, figures in child_results(core, args).items():
                    kept = best.setdefault(name, {}).get(case)
                    if kept is None or figures["mean ns/append"] < kept["mean ns/append"]:
                        best[name][case] = figures
    print(table(best))
    print(f"\nload average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
