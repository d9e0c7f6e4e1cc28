"""Client benchmark: our ``neptune_scale`` next to the official neptune-scale 0.30.0.

Prints one table:

* hot path: µs per ``log_metrics`` call of 4 floats over ``--steps`` steps (offline mode, so
  nothing else runs; and async into the in-memory transport, with the sender running beside it),
  wall-clock and CPU time of the logging thread;
* the same loop appending the dicts to a plain list (the floor any client pays in Python);
* end to end: points per second from the first call until ``wait_for_processing()`` returns,
  into the in-memory transport and into the embedded store;
* RSS growth for ``--rss-points`` points (default 10 million) through the whole pipeline (a
  transport that drops what it receives, so only the client's memory is measured);
* the official neptune-scale 0.30.0 in offline mode, installed by this script into its own venv
  under ``.cache/oracle/`` (never into this environment: both install ``neptune_scale``).

Usage: ``python benchmarks/client/bench_client.py [--steps N] [--rss-points N] [--no-official]``.
Timings are noisy when other work shares the machine; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
OFFICIAL = "neptune-scale==0.30.0"
VENV_DIR = REPO / ".cache" / "oracle" / "neptune-scale-0.30.0"  # shared with tests/compat
INSTALL_TIMEOUT_S = 600
METRICS = ("train/loss", "train/acc", "val/loss", "val/acc")
TARGET_HOT_PATH_US = 5.0
TARGET_POINTS_PER_S = 500_000
TARGET_RSS_MB = 100.0


# -- measurements of our client (each in a fresh interpreter: clean heap, clean RSS) -----------
def hot_path(steps: int, mode: str) -> dict[str, float]:
    from neptune_scale import Run
    from neptune_scale.testing import MemoryTransport

    folder = tempfile.mkdtemp(prefix="bench-client-")
    transport = MemoryTransport(rules=False) if mode == "async" else None
    run = Run(project="bench/client", run_id=f"hot-{mode}", log_directory=folder,
              mode="offline" if mode == "offline" else None, transport=transport,
              enable_console_log_capture=False, source_tracking_config=None)  # fmt: skip
    log = run.log_metrics
    wall0, cpu0, proc0 = time.perf_counter(), time.thread_time(), time.process_time()
    for step in range(steps):
        x = step * 1e-3
        log({"train/loss": x, "train/acc": x, "val/loss": x, "val/acc": x}, step=step)
    wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
    done = run.wait_for_processing(verbose=False)
    e2e, proc = time.perf_counter() - wall0, time.process_time() - proc0
    run.close()
    shutil.rmtree(folder, ignore_errors=True)
    return {"us_wall": wall / steps * 1e6, "us_cpu": cpu / steps * 1e6,
            "points_per_s": 4 * steps / e2e if done else 0.0,
            "points_per_cpu_s": 4 * steps / proc if done else 0.0}  # fmt: skip


def plain_list(steps: int) -> dict[str, float]:
    out: list[Any] = []
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    for step in range(steps):
        x = step * 1e-3
        out.append(({"train/loss": x, "train/acc": x, "val/loss": x, "val/acc": x}, step))
    wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
    return {"us_wall": wall / steps * 1e6, "us_cpu": cpu / steps * 1e6}


def embedded_store(steps: int) -> dict[str, float]:
    from neptune_scale import Run

    folder = tempfile.mkdtemp(prefix="bench-store-")
    run = Run(project="bench/client", run_id="store", log_directory=folder,
              enable_console_log_capture=False, source_tracking_config=None)  # fmt: skip
    start, proc0 = time.perf_counter(), time.process_time()
    for step in range(steps):
        x = step * 1e-3
        run.log_metrics({"train/loss": x, "train/acc": x, "val/loss": x, "val/acc": x}, step=step)
    done = run.wait_for_processing(verbose=False)
    elapsed, proc = time.perf_counter() - start, time.process_time() - proc0
    run.close()
    shutil.rmtree(folder, ignore_errors=True)
    return {"points_per_s": 4 * steps / elapsed if done else 0.0,
            "points_per_cpu_s": 4 * steps / proc if done else 0.0}  # fmt: skip


class _DropTransport:
    """Accepts everything and keeps nothing: the RSS measured is the client's own."""

    def __init__(self) -> None:
        self._next = 0

    def submit(self, project: str, run_id: str, operation: bytes) -> Any:
        from neptune_scale.transport import Submitted

        self._next += 1
        return Submitted(str(self._next))

    def check(self, project: str, request_ids: Sequence[str]) -> Any:
        from neptune_scale.transport import Processed

        return [Processed() for _ in request_ids]

    def upload_file(self, project: str, destination: str, source: Path, mime_type: str) -> None:
        return None

    def close(self) -> None:
        return None


def rss_growth(points: int) -> dict[str, float]:
    import psutil
    from neptune_scale import Run

    proc = psutil.Process()
    folder = tempfile.mkdtemp(prefix="bench-rss-")
    before = proc.memory_info().rss
    run = Run(project="bench/client", run_id="rss", log_directory=folder,
              transport=_DropTransport(), enable_console_log_capture=False,
              source_tracking_config=None)  # fmt: skip
    peak = before
    for step in range(points // len(METRICS)):
        x = step * 1e-3
        run.log_metrics({"train/loss": x, "train/acc": x, "val/loss": x, "val/acc": x}, step=step)
        if step % 50_000 == 0:
            peak = max(peak, proc.memory_info().rss)
    run.wait_for_processing(verbose=False)
    peak = max(peak, proc.memory_info().rss)
    after = proc.memory_info().rss
    run.close()
    shutil.rmtree(folder, ignore_errors=True)
    mb = 1024 * 1024
    return {"rss_growth_mb": (after - before) / mb, "rss_peak_growth_mb": (peak - before) / mb}


# -- the official client, in its own venv ------------------------------------------------------
OFFICIAL_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, tempfile, time
    from neptune_scale import Run
    steps = int(sys.argv[1])
    run = Run(project="bench/client", run_id="official-hot", mode="offline",
              log_directory=tempfile.mkdtemp())
    log = run.log_metrics
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    for step in range(steps):
        x = step * 1e-3
        log({"train/loss": x, "train/acc": x, "val/loss": x, "val/acc": x}, step=step)
    wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
    run.close()
    print(json.dumps({"us_wall": wall / steps * 1e6, "us_cpu": cpu / steps * 1e6}))
    """
)


def official_python() -> Path:
    python = VENV_DIR / "bin" / "python"
    if python.exists():
        return python
    building = VENV_DIR.with_name(f"{VENV_DIR.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(building)], check=True)
    subprocess.run([str(building / "bin" / "python"), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", OFFICIAL],
                   check=True, timeout=INSTALL_TIMEOUT_S)  # fmt: skip
    try:
        building.rename(VENV_DIR)
    except OSError:  # another process built it first; its venv is as good
        shutil.rmtree(building, ignore_errors=True)
    return python


def official_hot_path(steps: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEPTUNE_")}
    with tempfile.TemporaryDirectory() as cwd:  # never import our package from the repo root
        done = subprocess.run(
            [str(official_python()), "-c", OFFICIAL_SCRIPT, str(steps)],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
            check=True,
        )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- driver -------------------------------------------------------------------------------------
def child(measurement: str, n: int) -> None:
    functions = {
        "offline": lambda: hot_path(n, "offline"),
        "async": lambda: hot_path(n, "async"),
        "list": lambda: plain_list(n),
        "store": lambda: embedded_store(n),
        "rss": lambda: rss_growth(n),
    }
    print(json.dumps(functions[measurement]()))


def measure(measurement: str, n: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", measurement, "--n", str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000, help="log_metrics calls (4 floats)")
    parser.add_argument("--store-steps", type=int, default=100_000)
    parser.add_argument("--rss-points", type=int, default=10_000_000)
    parser.add_argument("--no-official", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.n)
        return 0
    rows = run_all(args)
    print_table(rows, args)
    return 0


def run_all(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    for name, n in (("list", args.steps), ("offline", args.steps), ("async", args.steps),
                    ("store", args.store_steps), ("rss", args.rss_points)):  # fmt: skip
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        rows[name] = measure(name, n)
    if not args.no_official:
        print("measuring the official neptune-scale 0.30.0 ...", file=sys.stderr, flush=True)
        try:
            rows["official"] = official_hot_path(args.steps)
        except (subprocess.SubprocessError, OSError) as e:
            print(f"official client unavailable: {e}", file=sys.stderr)
    return rows


def print_table(rows: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    def cell(name: str, key: str, fmt: str = "{:,.2f}") -> str:
        value = rows.get(name, {}).get(key)
        return "—" if value is None else fmt.format(value)

    official = rows.get("official", {})
    speedup = f"{official['us_wall'] / rows['offline']['us_wall']:.0f}×" if official else "—"
    table = [
        ("measurement", "ours", "official 0.30.0", "plain list", "target"),
        (f"log_metrics µs/call, wall (4 floats, {args.steps:,} steps, offline)",
         cell("offline", "us_wall"), cell("official", "us_wall"), cell("list", "us_wall"),
         f"≤ {TARGET_HOT_PATH_US}"),
        ("log_metrics µs/call, CPU of the logging thread (offline)",
         cell("offline", "us_cpu"), cell("official", "us_cpu"), cell("list", "us_cpu"), ""),
        ("log_metrics µs/call, wall (async, sender running beside it)",
         cell("async", "us_wall"), "", "", f"≤ {TARGET_HOT_PATH_US}"),
        ("log_metrics µs/call, CPU of the logging thread (async)",
         cell("async", "us_cpu"), "", "", ""),
        ("end to end points/s to wait_for_processing (in-memory transport)",
         cell("async", "points_per_s", "{:,.0f}"), "", "", f"≥ {TARGET_POINTS_PER_S:,}"),
        ("  the same per CPU second of the process (less sensitive to load)",
         cell("async", "points_per_cpu_s", "{:,.0f}"), "", "", ""),
        (f"end to end points/s to wait_for_processing (embedded store, "
         f"{4 * args.store_steps:,} points)",
         cell("store", "points_per_s", "{:,.0f}"), "", "", f"≥ {TARGET_POINTS_PER_S:,}"),
        ("  the same per CPU second of the process (client + SQLite store)",
         cell("store", "points_per_cpu_s", "{:,.0f}"), "", "", ""),
        (f"RSS growth after {args.rss_points:,} points delivered (MB)",
         cell("rss", "rss_growth_mb", "{:,.1f}"), "", "", f"< {TARGET_RSS_MB:.0f}"),
        ("RSS peak growth while logging them (MB)",
         cell("rss", "rss_peak_growth_mb", "{:,.1f}"), "", "", f"< {TARGET_RSS_MB:.0f}"),
        ("speed-up of the hot path over the official client", speedup, "", "", "≥ 30×"),
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in table) for i in range(5)]
    for i, row in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload average: {load} on {os.cpu_count()} CPUs (figures are noisy under load)")


if __name__ == "__main__":
    sys.exit(main())
