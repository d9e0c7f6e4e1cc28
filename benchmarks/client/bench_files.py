"""File uploads of our client: one at a time against concurrent, side by side in one run.

Each row logs ``--files`` small files (``--size`` bytes each, as ``bytes`` values, so they go
through the run folder like checkpoints and images do) with ``assign_files``, ``per call`` files
in each call, and times from the first call until ``wait_for_processing()`` returns, i.e. until
every file is stored and confirmed. Each call also logs the files' FileRef attributes: a
snapshot the sender submits as one ingest request after the call's files, so with few files per
call the sender's requests, not the uploads, set the pace. The upload concurrency is set through
``neptune_scale._uploader.MAX_CONCURRENT_UPLOADS`` (read when a Run starts): ``1`` is the
uploader as it was before, one file at a time.

Destinations: a real ``despina server`` on 127.0.0.1 (SQLite) through the http transport,
directly and through a proxy adding ``--rtt-ms`` of round trip (what a remote server costs per
request; loopback hides it), and the embedded store through the local transport. Each figure
is the median of ``--repeat`` runs; wall-clock on a shared machine, so noisy (the load average
is printed with them).

    python benchmarks/client/bench_files.py [--files 200] [--size 4096] [--limits 1,8]
        [--per-call 200,10,1] [--repeat 3] [--rtt-ms 20] [--no-local]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _latency_proxy import LatencyProxy
from despina.api import ServerProcess
from despina.auth import KeyRing, ServerDatabase, encode_api_token
from neptune_scale import Run, _uploader
from neptune_scale.types import File

WORKSPACE = "bench"
PROJECT = f"{WORKSPACE}/files"


def upload_once(
    limit: int, per_call: int, args: argparse.Namespace, log_directory: Path, token: str | None
) -> float:
    """Seconds from the first assign_files to wait_for_processing() with ``limit`` slots."""
    _uploader.MAX_CONCURRENT_UPLOADS = limit
    payload = os.urandom(args.size)
    run = Run(project=PROJECT, run_id=f"files-{uuid.uuid4().hex[:8]}", api_token=token,
              log_directory=log_directory, enable_console_log_capture=False,
              source_tracking_config=None)  # fmt: skip
    start = time.perf_counter()
    for first in range(0, args.files, per_call):
        last = min(first + per_call, args.files)
        run.assign_files({f"files/f{i}": File(payload) for i in range(first, last)})
    ok = run.wait_for_processing(verbose=False)
    elapsed = time.perf_counter() - start
    run.close()
    if not ok:
        raise RuntimeError(f"the uploads of concurrency {limit} did not complete")
    return elapsed


Row = tuple[str, int, int, float]  # destination, files per call, concurrency, seconds


def measure(label: str, token: str | None, args: argparse.Namespace, rows: list[Row]) -> None:
    with tempfile.TemporaryDirectory() as logs:
        upload_once(1, args.files, args, Path(logs), token)  # warm up: imports, connections
        for per_call in args.per_call:
            for limit in args.limits:
                runs = [
                    upload_once(limit, per_call, args, Path(logs), token)
                    for _ in range(args.repeat)
                ]
                rows.append((label, per_call, limit, statistics.median(runs)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--size", type=int, default=4096, help="bytes per file")
    parser.add_argument("--limits", default="1,8", help="concurrency limits to compare")
    parser.add_argument("--per-call", default="200,10,1", help="files per assign_files call")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rtt-ms", type=float, default=20.0, help="0: no proxied rows")
    parser.add_argument("--no-local", action="store_true", help="skip the embedded store rows")
    args = parser.parse_args()
    args.limits = [int(x) for x in args.limits.split(",")]
    args.per_call = [int(x) for x in args.per_call.split(",")]
    default_limit = _uploader.MAX_CONCURRENT_UPLOADS
    for name in [n for n in os.environ if n.startswith("NEPTUNE_")]:
        del os.environ[name]  # the destination is chosen here, not by the environment
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        location = str(Path(tmp) / "store")
        api_key, _ = KeyRing(ServerDatabase(location)).create_key(WORKSPACE)
        with ServerProcess(location, Path(tmp) / "server.log") as server:
            measure("http → despina server", encode_api_token(server.url, api_key), args, rows)
            if args.rtt_ms > 0:
                with LatencyProxy(server.port, args.rtt_ms / 1000) as proxy:
                    token = encode_api_token(f"http://127.0.0.1:{proxy.port}", api_key)
                    measure(f"http, {args.rtt_ms:g} ms RTT", token, args, rows)
        if not args.no_local:
            measure("local → embedded store", None, args, rows)
    _uploader.MAX_CONCURRENT_UPLOADS = default_limit
    print(f"\n{args.files} files of {args.size} bytes each, median of {args.repeat}; "
          f"load average {os.getloadavg()[0]:.2f} (default limit: {default_limit})")  # fmt: skip
    print(f"{'destination':<24} {'per call':>8} {'concurrent':>10} {'seconds':>8} {'files/s':>9} "
          f"{'speed-up':>9}")  # fmt: skip
    base: dict[tuple[str, int], float] = {}
    for label, per_call, limit, seconds in rows:
        first = base.setdefault((label, per_call), seconds)
        print(f"{label:<24} {per_call:>8} {limit:>10} {seconds:>8.2f} "
              f"{args.files / seconds:>9.1f} {first / seconds:>8.1f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
