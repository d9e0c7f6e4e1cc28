"""``log_metrics`` of two client trees side by side: did a change make the hot path slower?

Each round runs the same loop (4 floats per call, offline mode, integer steps) once per tree,
each in a fresh interpreter with that tree's ``core`` first on ``sys.path``; the rounds
alternate the trees so load on a shared machine falls on both alike. Prints the thread CPU µs
per call of every round and their minimum and median (the minimum is the least disturbed).

Usage: ``python benchmarks/client/bench_log_metrics_ab.py BEFORE_ROOT AFTER_ROOT
[--steps N] [--rounds K]``, where a root holds ``core/neptune_scale`` (e.g. a ``git archive``
of the commit before the change, and this checkout).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import json, sys, tempfile, time
    from neptune_scale import Run

    steps = int(sys.argv[1])
    run = Run(project="bench/ab", run_id="ab", log_directory=tempfile.mkdtemp(),
              mode="offline", enable_console_log_capture=False, source_tracking_config=None)
    log = run.log_metrics
    cpu0 = time.thread_time()
    for step in range(steps):
        x = step * 1e-3
        log({"train/loss": x, "train/acc": x, "val/loss": x, "val/acc": x}, step=step)
    cpu = time.thread_time() - cpu0
    run.terminate()
    print(json.dumps({"us_cpu": cpu / steps * 1e6, "module": Run.__module__}))
    """
)


def measure(root: Path, steps: int) -> float:
    env_path = str(root / "core")
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {env_path!r})\n{CHILD}",
         str(steps)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["us_cpu"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    rows: dict[str, list[float]] = {"before": [], "after": []}
    for _ in range(args.rounds):
        rows["before"].append(measure(args.before, args.steps))
        rows["after"].append(measure(args.after, args.steps))
    print(f"log_metrics, 4 floats, {args.steps:,} steps: thread CPU µs per call")
    print(f"{'round':<8}{'before':>10}{'after':>10}")
    for i, (b, a) in enumerate(zip(rows["before"], rows["after"], strict=True), 1):
        print(f"{i:<8}{b:>10.2f}{a:>10.2f}")
    for name, fn in (("min", min), ("median", statistics.median)):
        print(f"{name:<8}{fn(rows['before']):>10.2f}{fn(rows['after']):>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
