"""Ingest throughput of one `despina server` process on 127.0.0.1, side by side.

Rows:
* raw wire    — pre-encoded RunOperation batches POSTed through our http transport: what one
                server process takes in (protobuf parse, store.apply, status write);
* our client  — `neptune_scale.Run.log_metrics` → durable log → sender → server, timed from the
                first log call until `wait_for_processing()` returns;
* official    — the same script with the official neptune-scale 0.30.0 (own venv, cached under
                .cache/oracle; skipped with --no-official).

Each row is run on SQLite and, when a PostgreSQL URL is given (--postgres or
$DESPINA_TEST_POSTGRES), on PostgreSQL. Figures are wall-clock on a shared machine: noisy.

    python benchmarks/server/ingest.py [--steps 20000] [--metrics 20] [--no-official]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The official client's venv helpers live with the compat tests (and import tests/stored_runs).
sys.path[:0] = [str(REPO / "tests" / "compat"), str(REPO / "tests")]

from despina.api import ServerProcess  # noqa: E402
from despina.auth import KeyRing, ServerDatabase, encode_api_token  # noqa: E402
from neptune_api.proto.neptune_pb.ingest.v1.common_pb2 import (  # noqa: E402
    Run,
    Step,
    UpdateRunSnapshot,
    UpdateRunSnapshots,
)
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation  # noqa: E402
from neptune_scale._http import create_http_transport  # noqa: E402
from neptune_scale.transport import Processed, Submitted  # noqa: E402

SNAPSHOTS_PER_REQUEST = 2000
CLIENT_SCRIPT = """
import json, sys, time
from neptune_scale import Run
steps, metrics = int(sys.argv[1]), int(sys.argv[2])
names = [f"bench/m{i}" for i in range(metrics)]
run = Run(run_id=sys.argv[3], enable_console_log_capture=False, source_tracking_config=None)
start = time.perf_counter()
for step in range(steps):
    run.log_metrics(dict(zip(names, [step * 0.001 + i for i in range(metrics)])), step=step)
logged = time.perf_counter()
ok = run.wait_for_processing()
done = time.perf_counter()
run.close()
print(json.dumps({"log_s": logged - start, "total_s": done - start, "ok": ok}))
"""


def raw_wire(token: str, project: str, steps: int, metrics: int) -> tuple[float, bool]:
    """Seconds to submit and confirm steps×metrics points as pre-encoded batches."""
    run_id = f"raw-{uuid.uuid4().hex[:8]}"
    bodies = [RunOperation(project=project, run_id=run_id, create=Run(family=run_id))]
    for first in range(0, steps, SNAPSHOTS_PER_REQUEST):
        batch = UpdateRunSnapshots()
        for step in range(first, min(steps, first + SNAPSHOTS_PER_REQUEST)):
            snap = UpdateRunSnapshot(step=Step(whole=step))
            for i in range(metrics):
                snap.append[f"bench/m{i}"].float64 = step * 0.001 + i
            batch.snapshots.append(snap)
        bodies.append(RunOperation(project=project, run_id=run_id, update_batch=batch))
    encoded = [b.SerializeToString() for b in bodies]
    transport = create_http_transport(token)
    ids: list[str] = []
    start = time.perf_counter()
    for body in encoded:
        result = transport.submit(project, run_id, body)
        if not isinstance(result, Submitted):
            raise RuntimeError(f"submit failed: {result}")
        ids.append(result.request_id)
    statuses = transport.check(project, ids)
    elapsed = time.perf_counter() - start
    transport.close()
    ok = isinstance(statuses, list) and all(
        isinstance(s, Processed) and not s.issues for s in statuses
    )
    return elapsed, ok


def client_run(python: Path, token: str, project: str, steps: int, metrics: int) -> dict:
    with tempfile.TemporaryDirectory() as work:
        script = Path(work) / "bench.py"
        script.write_text(
            'if __name__ == "__main__":\n'
            + "".join(f"    {line}\n" for line in CLIENT_SCRIPT.strip().splitlines())
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEPTUNE_")}
        env |= {"NEPTUNE_API_TOKEN": token, "NEPTUNE_PROJECT": project}
        done = subprocess.run(
            [str(python), str(script), str(steps), str(metrics), f"c-{uuid.uuid4().hex[:8]}"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def bench_engine(label: str, location: str, args: argparse.Namespace, rows: list) -> None:
    points = args.steps * args.metrics
    api_key, _ = KeyRing(ServerDatabase(location)).create_key("bench")
    with (
        tempfile.TemporaryDirectory() as logs,
        ServerProcess(location, Path(logs) / "server.log") as server,
    ):
        token = encode_api_token(server.url, api_key)
        seconds, ok = raw_wire(token, "bench/raw", args.steps, args.metrics)
        rows.append((label, "raw wire (our transport)", points, seconds, None, ok))
        ours = client_run(Path(sys.executable), token, "bench/ours", args.steps, args.metrics)
        rows.append(
            (
                label,
                "our client, log → processed",
                points,
                ours["total_s"],
                ours["log_s"],
                ours["ok"],
            )
        )
        if not args.no_official:
            from oracle_support import ORACLE_SCALE, oracle_venv

            python = oracle_venv(ORACLE_SCALE)
            theirs = client_run(python, token, "bench/official", args.steps, args.metrics)
            rows.append(
                (
                    label,
                    "official 0.30.0, log → processed",
                    points,
                    theirs["total_s"],
                    theirs["log_s"],
                    theirs["ok"],
                )
            )


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL server of ``server_url``, dropped afterwards."""
    import psycopg

    name = f"despina_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{server_url.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--postgres", default=os.environ.get("DESPINA_TEST_POSTGRES"))
    parser.add_argument("--no-official", action="store_true")
    args = parser.parse_args()
    rows: list = []
    with tempfile.TemporaryDirectory() as tmp:
        bench_engine("SQLite", str(Path(tmp) / "store"), args, rows)
        if args.postgres:
            os.environ.setdefault("DESPINA_FILES_DIR", str(Path(tmp) / "pg-files"))
            with scratch_database(args.postgres) as url:
                bench_engine("PostgreSQL", url, args, rows)
    # "in log calls": the part of the time the script spent inside log_metrics itself.
    header = f"{'engine':<11} {'path':<34} {'points':>9} {'seconds':>8} {'in log calls':>12}"
    print(f"\n{header} {'points/s':>10}  ok")
    for engine, path, points, seconds, log_s, ok in rows:
        in_calls = "" if log_s is None else f"{log_s:.2f}"
        rate = points / seconds
        row = f"{engine:<11} {path:<34} {points:>9} {seconds:>8.2f} {in_calls:>12}"
        print(f"{row} {rate:>10,.0f}  {ok}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
