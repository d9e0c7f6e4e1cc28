"""What the operation log's record index and checksums (format 3) cost, next to format 2.

Side by side in one process, rounds alternating so that machine noise hits both alike:

* ``append_snapshot`` alone: ns per call for the frame a 4-float ``log_metrics`` call makes,
  format 2 (``LegacyLogWriter``: no index, no crc) and format 3 (``LogWriter``: a chained
  adler32 and an index entry per record);
* ``Run.log_metrics`` of 4 floats, offline: a new run (format 3) and a run resumed in a
  format-2 folder (which keeps writing format 2), µs per call;
* recovery (``_oplog_read.recover``) of a 200,000-record log: µs per record, both formats;
* the two checksums zlib offers, over that record: crc32 and adler32 (the one format 3 uses).

Usage: ``python benchmarks/client/bench_oplog_checksum.py [--calls N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

from neptune_scale import Run, _oplog
from neptune_scale._oplog import read as _oplog_read
from neptune_scale._oplog.legacy import LegacyLogWriter

METRICS = ("train/loss", "train/acc", "val/loss", "val/acc")


def frame_of_a_call() -> bytes:
    """The record (without its tag) one 4-float log_metrics call appends."""
    captured: list[bytes] = []
    folder = Path(tempfile.mkdtemp(prefix="bench-oplog-"))
    run = Run(project="bench/oplog", run_id="frame", log_directory=folder, mode="offline",
              enable_console_log_capture=False, source_tracking_config=None)  # fmt: skip
    pipeline = run._recorder.pipeline
    assert pipeline is not None
    pipeline.append_snapshot = captured.append
    run.log_metrics(dict.fromkeys(METRICS, 0.123), step=1234)
    run.close()
    shutil.rmtree(folder, ignore_errors=True)
    return captured[0]


def interleaved(
    calls: int, rounds: int, loops: dict[int, Callable[[int], None]]
) -> dict[int, float]:
    """Per format, the best CPU time per call over ``rounds`` chunks of ``calls // rounds``
    calls, the formats' chunks taken in turns (so that other work on the machine hits both
    alike; CPU time of this thread leaves out the time other processes held the core)."""
    chunk = max(1, calls // rounds)
    best = dict.fromkeys(loops, float("inf"))
    for i in range(rounds):
        for log_format in sorted(loops, reverse=i % 2 == 1):
            start = time.thread_time()
            loops[log_format](chunk)
            best[log_format] = min(best[log_format], (time.thread_time() - start) / chunk)
    return best


def append_ns(rest: bytes, calls: int, rounds: int) -> tuple[float, float]:
    folders = {f: Path(tempfile.mkdtemp(prefix="bench-oplog-")) for f in (2, 3)}
    writers = {2: LegacyLogWriter(folders[2]), 3: _oplog.LogWriter(folders[3])}

    def loop(writer: _oplog.LogWriter) -> Callable[[int], None]:
        append = writer.append_snapshot

        def run(n: int) -> None:
            for _ in range(n):
                append(rest)

        return run

    best = interleaved(calls, rounds, {f: loop(w) for f, w in writers.items()})
    for log_format, writer in writers.items():
        writer.close()
        shutil.rmtree(folders[log_format], ignore_errors=True)
    return best[2] * 1e9, best[3] * 1e9


def open_run(folder: Path, log_format: int) -> Run:
    kwargs = dict(project="bench/oplog", run_id="hot", log_directory=folder, mode="offline",
                  enable_console_log_capture=False, source_tracking_config=None)  # fmt: skip
    if log_format == 2:  # a format-2 folder: a run resuming it keeps writing format 2
        Run(**kwargs).close()  # type: ignore[arg-type]
        (run_folder,) = (folder / "runs").iterdir()
        for path in [*run_folder.glob("ops-*"), run_folder / "meta.copy.json"]:
            path.unlink()
        meta = {"format": 2, "project": "bench/oplog", "run_id": "hot"}
        (run_folder / "meta.json").write_text(json.dumps(meta))
    return Run(resume=log_format == 2, **kwargs)  # type: ignore[arg-type]


def log_metrics_us(calls: int, rounds: int) -> tuple[float, float]:
    folders = {f: Path(tempfile.mkdtemp(prefix="bench-oplog-")) for f in (2, 3)}
    runs = {f: open_run(folder, f) for f, folder in folders.items()}

    def loop(run: Run) -> Callable[[int], None]:
        log = run.log_metrics
        step = 0

        def go(n: int) -> None:
            nonlocal step
            for step in range(step, step + n):  # noqa: B020 (continues where it stopped)
                x = step * 1e-3
                log({"train/loss": x, "train/acc": x, "val/loss": x, "val/acc": x}, step=step)
            step += 1

        return go

    best = interleaved(calls, rounds, {f: loop(r) for f, r in runs.items()})
    for log_format, run in runs.items():
        run.close()
        shutil.rmtree(folders[log_format], ignore_errors=True)
    return best[2] * 1e6, best[3] * 1e6


def recover_us(writer_class: type[_oplog.LogWriter], rest: bytes, records: int) -> float:
    folder = Path(tempfile.mkdtemp(prefix="bench-oplog-"))
    writer = writer_class(folder)
    for _ in range(records):
        writer.append_snapshot(rest)
    writer.close()
    start = time.thread_time()
    found = _oplog_read.recover(folder, 0)
    elapsed = time.thread_time() - start
    assert found.records == records and not found.damage
    shutil.rmtree(folder, ignore_errors=True)
    return elapsed / records * 1e6


def checksum_ns(rest: bytes, calls: int, rounds: int) -> tuple[float, float]:
    def loop(function: Callable[[bytes, int], int]) -> Callable[[int], None]:
        def go(n: int) -> None:
            for _ in range(n):
                function(rest, 0x0A)

        return go

    best = interleaved(calls, rounds, {2: loop(zlib.crc32), 3: loop(zlib.adler32)})
    return best[2] * 1e9, best[3] * 1e9


def alternate(rounds: int, measure: Callable[[int], float]) -> tuple[float, float]:
    """The best of ``rounds`` of measure(2) and of measure(3), taken in turns."""
    results: dict[int, list[float]] = {2: [], 3: []}
    for i in range(rounds):
        for log_format in (2, 3) if i % 2 == 0 else (3, 2):
            results[log_format].append(measure(log_format))
    return min(results[2]), min(results[3])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400_000)
    parser.add_argument("--rounds", type=int, default=40, help="chunks per format, in turns")
    args = parser.parse_args(argv)
    rest = frame_of_a_call()
    writers = {2: LegacyLogWriter, 3: _oplog.LogWriter}
    rows = [
        ("append_snapshot, ns/call (CPU)", "{:.0f}", append_ns(rest, args.calls, args.rounds)),
        ("log_metrics of 4 floats offline, µs/call (CPU)", "{:.2f}",
         log_metrics_us(args.calls, args.rounds)),
        ("recovery of 200,000 records, µs/record", "{:.2f}", alternate(
            3, lambda f: recover_us(writers[f], rest, 200_000))),
    ]  # fmt: skip
    crc, adler = checksum_ns(rest, args.calls, args.rounds)
    print(f"record of one call: {len(rest) + 1} bytes; best of {args.rounds} alternating rounds")
    print(f"{'measurement':<48} {'format 2':>10} {'format 3':>10} {'difference':>11}")
    for name, spec, (old, new) in rows:
        diff = new - old
        print(f"{name:<48} {spec.format(old):>10} {spec.format(new):>10} {spec.format(diff):>11}")
    print(f"{'checksum of that record, ns/call (CPU)':<48} {'crc32':>10} {'adler32':>10}")
    print(f"{'':<48} {crc:>10.0f} {adler:>10.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
