"""Web UI speed, measured in Debian's chromium against the real UI server on 127.0.0.1.

Targets (issue 5): a chart of a 10-million-point series fetched and drawn in ≤ 1 s; the runs page
of a project with 10,000 runs in ≤ 1 s. The store is written once through ``Store.apply`` (about
10 minutes on 2 cores) into ``--data`` and reused by later runs.

    python benchmarks/ui/bench_ui.py [--data .cache/bench-ui] [--points 10000000] [--runs 10000]

Prints one table: cold (first load after the server started) and warm (median of the repeats).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2 as common
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation

PROJECT = "bench/ui"
# A one-run project whose runs page warms the browser and the page assets, not the data.
WARM_UP_PROJECT = "bench/warm-up"
BIG_RUN = "big-run"
METRIC = "train/loss"
SNAPSHOTS_PER_OPERATION = 20_000
RUNS_PER_APPLY = 500
REPEATS = 5
TIMEOUT_MS = 120_000
TARGET_S = 1.0
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _stamp(seconds: float) -> Any:
    ts = common.google_dot_protobuf_dot_timestamp__pb2.Timestamp()
    ts.FromDatetime(T0 + dt.timedelta(seconds=seconds))
    return ts


def _create(run_id: str, experiment: str, seconds: float, project: str = PROJECT) -> RunOperation:
    run = common.Run(family=run_id, experiment_id=experiment, creation_time=_stamp(seconds))
    return RunOperation(project=project, run_id=run_id, create=run)


def _check(issues: list[Any]) -> None:
    bad = [i for i in issues if i]
    if bad:
        raise SystemExit(f"the store refused benchmark data: {bad[:3]}")


def write_big_series(store: Any, points: int) -> None:
    """One run with ``points`` steps of a noisy decaying loss with periodic spikes."""
    _check(store.apply([_create(BIG_RUN, "bench", 0)]))
    stamp = _stamp(0)
    for start in range(0, points, SNAPSHOTS_PER_OPERATION):
        snapshots = []
        for step in range(start, min(points, start + SNAPSHOTS_PER_OPERATION)):
            value = 1.0 / (1 + step * 1e-5) + (5.0 if step % 1_000_003 == 0 else 0.0)
            snapshot = common.UpdateRunSnapshot(step=common.Step(whole=step), timestamp=stamp)
            snapshot.append[METRIC].float64 = value
            snapshots.append(snapshot)
        batch = common.UpdateRunSnapshots(snapshots=snapshots)
        _check(store.apply([RunOperation(project=PROJECT, run_id=BIG_RUN, update_batch=batch)]))
        print(f"  {start + len(snapshots):,} / {points:,} points", end="\r", file=sys.stderr)
    print(file=sys.stderr)


def write_many_runs(store: Any, runs: int) -> None:
    """``runs`` runs, each with three configs, two tags and a short metric."""
    for start in range(0, runs, RUNS_PER_APPLY):
        operations = []
        for n in range(start, min(runs, start + RUNS_PER_APPLY)):
            run_id = f"run-{n:05d}"
            operations.append(_create(run_id, f"exp-{n % 50}", 10 + n))
            snapshot = common.UpdateRunSnapshot(timestamp=_stamp(10 + n))
            snapshot.assign["params/lr"].float64 = (n % 97) / 1000
            snapshot.assign["params/batch"].int64 = 16 << (n % 4)
            snapshot.assign["params/opt"].string = ("adam", "sgd")[n % 2]
            for tag in (f"group-{n % 10}", "bench"):
                snapshot.modify_sets["sys/tags"].string.values[tag] = common.ADD
            snapshots = [snapshot]
            for step in range(3):
                point = common.UpdateRunSnapshot(step=common.Step(whole=step), timestamp=_stamp(n))
                point.append["val/acc"].float64 = (n % 89) / 100 + step / 1000
                snapshots.append(point)
            batch = common.UpdateRunSnapshots(snapshots=snapshots)
            operations.append(RunOperation(project=PROJECT, run_id=run_id, update_batch=batch))
        _check(store.apply(operations))
        print(f"  {min(runs, start + RUNS_PER_APPLY):,} / {runs:,} runs", end="\r", file=sys.stderr)
    print(file=sys.stderr)


def prepare(folder: Path, points: int, runs: int) -> None:
    from despina.store import open_store

    marker = folder / f"bench-{points}-{runs}.done"
    if not marker.exists():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"writing the benchmark store into {folder} (once)", file=sys.stderr)
        with open_store(str(folder)) as store:
            write_big_series(store, points)
            write_many_runs(store, runs)
        marker.write_text("ok\n")
    warm_up = folder / "warm-up.done"  # added later than the data: stores written before lack it
    if not warm_up.exists():
        with open_store(str(folder)) as store:
            _check(store.apply([_create("warm-up", "warm-up", 0, WARM_UP_PROJECT)]))
        warm_up.write_text("ok\n")


@contextmanager
def ui_server(folder: Path) -> Iterator[str]:
    import socket
    import threading

    import uvicorn
    from despina.store import open_store
    from despina.ui import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = open_store(str(folder))
    server = uvicorn.Server(
        uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


def timed_page(page: Any, address: str, ready_js: str) -> float:
    """Seconds from navigation start to ``ready_js`` holding (data fetched and drawn)."""
    start = time.perf_counter()
    page.goto(address, wait_until="commit")
    page.wait_for_function(ready_js, timeout=TIMEOUT_MS)
    return time.perf_counter() - start


def timed_action(page: Any, action: Callable[[], None], ready_js: str) -> float:
    start = time.perf_counter()
    action()
    page.wait_for_function(ready_js, timeout=TIMEOUT_MS)
    return time.perf_counter() - start


def measure(base: str, points: int, runs: int) -> list[tuple[str, float, float, str]]:
    from playwright.sync_api import sync_playwright

    project = quote(PROJECT, safe="")
    chart_ready = f"() => window.__despinaCharts && __despinaCharts['{METRIC}']?.ready"
    runs_ready = "() => window.__despinaRuns && __despinaRuns.ready"
    rows: list[tuple[str, float, float, str]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        # Warm the browser and the page assets (not the data): a project of one run. (A page
        # of a missing project is a 404 page without the runs table's script.)
        page.goto(f"{base}/runs?project={quote(WARM_UP_PROJECT, safe='')}")
        page.wait_for_function(runs_ready, timeout=TIMEOUT_MS)
        run_page = f"{base}/run?project={project}&run={BIG_RUN}"
        runs_page = f"{base}/runs?project={project}"
        sorted_page = (
            f"{runs_page}&filter=params%2Flr%20%3E%200.05&sort=params%2Flr&dir=asc"
            "&cols=params%2Flr%2Cval%2Facc"
        )

        def series(name: str, address: str, ready: str, note: str) -> None:
            samples = [timed_page(page, address, ready) for _ in range(REPEATS + 1)]
            rows.append((name, samples[0], statistics.median(samples[1:]), note))

        series(f"run page, chart of {points:,} points", run_page, chart_ready, "fetch + draw")
        shown = page.evaluate(f"() => __despinaCharts['{METRIC}'].series[0].points")

        chart = f"__despinaCharts['{METRIC}']"

        def zoom() -> None:
            page.evaluate(f"() => {chart}.zoom({points * 0.4}, {points * 0.41})")

        zoom_ready = f"() => {chart}.fetches >= 2"
        zooms = []
        for _ in range(REPEATS):
            page.goto(run_page)
            page.wait_for_function(chart_ready, timeout=TIMEOUT_MS)
            zooms.append(timed_action(page, zoom, zoom_ready))
        rows.append(("zoom to 1 % of it", zooms[0], statistics.median(zooms[1:]), "refetch + draw"))
        series(f"runs page, {runs:,} runs", runs_page, runs_ready, "first 50 rows")
        series("runs page, filter + sort by config", sorted_page, runs_ready, "2 extra columns")
        browser.close()
    rows.append((f"(points drawn for the {points:,}-point chart)", float(shown), float(shown), ""))
    return rows


def measure_server(base: str) -> list[tuple[str, float, float, str]]:
    """The JSON calls alone (no browser), with parameters the pages did not use (so cold)."""
    import httpx

    calls = [
        ("server: /ui-api/metric, 500 buckets", "/ui-api/metric",
         {"run": BIG_RUN, "attribute": METRIC, "width": 1000}),
        ("server: /ui-api/runs, 10k runs, new column", "/ui-api/runs",
         {"column": "params/batch", "sort": "params/batch"}),
    ]  # fmt: skip
    rows = []
    with httpx.Client(base_url=base, timeout=TIMEOUT_MS / 1000) as client:
        for name, path, params in calls:
            samples = []
            for _ in range(REPEATS + 1):
                start = time.perf_counter()
                client.get(path, params={"project": PROJECT, **params}).raise_for_status()
                samples.append(time.perf_counter() - start)
            rows.append((name, samples[0], statistics.median(samples[1:]), "JSON only"))
    return rows


def _verdict(seconds: float) -> str:
    return "ok" if seconds <= TARGET_S else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(".cache/bench-ui"))
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args(argv)
    folder = args.data / f"p{args.points}-r{args.runs}"
    prepare(folder, args.points, args.runs)
    with ui_server(folder) as base:
        rows = measure(base, args.points, args.runs)
        rows += measure_server(base)
    print(f"{'measurement':<44} {'cold s':>8} {'warm s':>8}  target  cold    warm    what")
    for name, cold, warm, note in rows:
        if name.startswith("("):
            print(f"{name:<44} {int(cold):>8}")
            continue
        print(
            f"{name:<44} {cold:>8.3f} {warm:>8.3f}  ≤ 1 s   "
            f"{_verdict(cold):<7} {_verdict(warm):<7} {note}"
        )
    print(
        "cold = first load of the data after the server started (browser and page assets "
        "warmed on an empty page, no data cached); warm = median of "
        f"{REPEATS} reloads within the UI's cache lifetime (runs table 10 s, buckets 30 s)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
