"""Read-side benchmark: the neptune-query endpoints of a real ``despina server`` on 127.0.0.1.

Run: ``python benchmarks/server/bench_read.py [--points 1000000] [--db sqlite-folder|postgresql://…]``.
One float series of ``--points`` points is written straight into the store, then timed over HTTP
as neptune-query asks for it: one ``series/float`` page of all points (decoded with the generated
protobuf class, as the client does), 1,001 buckets, and a leaderboard search. Figures on a
shared machine are noisy; the first row says how fast the machine is right now.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from despina.api import ServerProcess
from despina.auth import KeyRing, ServerDatabase, encode_api_token
from despina.store import open_store
from neptune_api.proto.neptune_pb.api.v1.model import requests_pb2 as rq
from neptune_api.proto.neptune_pb.api.v1.model import series_values_pb2 as sv
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2

PROJECT = "bench/read"
PER_OP = 10_000
REPEATS = 3
LB = "/api/leaderboard/v1"


def _fill(location: str, points: int) -> None:
    with open_store(location) as store:
        create = ingest_pb2.RunOperation(project=PROJECT, run_id="long")
        create.create.family = "long"
        create.create.experiment_id = "bench"
        store.apply([create])
        for first in range(0, points, PER_OP):
            op = ingest_pb2.RunOperation(project=PROJECT, run_id="long")
            for step in range(first, min(first + PER_OP, points)):
                snap = op.update_batch.snapshots.add()
                snap.step.whole = step
                snap.timestamp.seconds = 1_700_000_000 + step
                snap.append["train/loss"].float64 = 1.0 / (step + 1)
            (issues,) = store.apply([op])
            assert issues == (), issues


def _timed(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _float_page(url: str, auth: dict[str, str], points: int) -> None:
    series = {"holder": {"identifier": f"CUSTOM/{PROJECT}/long"}, "attribute": "train/loss"}
    body = {
        "requests": [{"requestId": "0", "series": series}],
        "perSeriesPointsLimit": points,
        "order": "descending",
    }
    answer = httpx.post(f"{url}{LB}/proto/attributes/series/float", json=body, headers=auth)
    answer.raise_for_status()
    (got,) = sv.ProtoFloatSeriesValuesResponseDTO.FromString(answer.content).series
    assert len(got.series.values) == points


def _buckets(url: str, auth: dict[str, str]) -> None:
    spec = rq.ProtoGetTimeseriesBucketsRequest()
    spec.expressions.add(
        requestId="b", runId=f"CUSTOM/{PROJECT}/long", customYFormula="${train/loss}"
    )
    spec.view.maxBuckets = 1001
    spec.view.xAxis.steps.SetInParent()
    answer = httpx.post(
        f"{url}{LB}/proto/attributes/timeseries/buckets",
        content=spec.SerializeToString(),
        headers={**auth, "Content-Type": "application/x-protobuf"},
    )
    answer.raise_for_status()


def _search(url: str, auth: dict[str, str]) -> None:
    answer = httpx.post(
        f"{url}{LB}/proto/leaderboard/entries/search/?projectIdentifier={PROJECT}&type=run",
        json={"attributeFilters": [{"path": "train/loss"}], "experimentLeader": True},
        headers=auth,
    )
    answer.raise_for_status()


def _loop_ns() -> float:
    start = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i
    return (time.perf_counter() - start) / 2_000_000 * 1e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--db", default=None, help="store location (default: a temp folder)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="despina-bench-read-"))
    location = args.db or str(work / "store")
    _fill(location, args.points)
    key, _ = KeyRing(ServerDatabase(location)).create_key("bench")
    rows = [("python loop (machine speed reference)", f"{_loop_ns():.0f} ns/iter")]
    with ServerProcess(location, work / "server.log") as server:
        token = encode_api_token(server.url, key)
        exchange = httpx.get(
            f"{server.url}/api/backend/v1/authorization/oauth-token",
            headers={"X-Neptune-Api-Token": token},
        )
        auth = {"Authorization": f"Bearer {exchange.json()['accessToken']}"}
        seconds = _timed(lambda: _float_page(server.url, auth, args.points))
        rows.append(
            (f"series/float: {args.points:,} points in one page", f"{seconds * 1000:.0f} ms")
        )
        seconds = _timed(lambda: _buckets(server.url, auth))
        rows.append(
            (f"timeseries/buckets: {args.points:,} points → 1,001", f"{seconds * 1000:.0f} ms")
        )
        seconds = _timed(lambda: _search(server.url, auth))
        rows.append(("entries/search with float series aggregates", f"{seconds * 1000:.0f} ms"))
    width = max(len(label) for label, _ in rows)
    print(f"{'benchmark':<{width}}  {'result':>14}")
    for label, result in rows:
        print(f"{label:<{width}}  {result:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
