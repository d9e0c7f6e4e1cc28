"""Flyte integration benchmark: what the Neptune decorator costs a Flyte task.

Prints one table, side by side in one run:

* per task call (local execution, real flytekit): a plain `@task`, the same task under
  `neptune_scale_run` writing into the embedded store, and with `mode="disabled"` (only the
  decorator's own work: context, identity, Deck);
* per `log_metrics` call: the injected run (which also notes last values for the Deck) next to a
  bare `neptune_scale.Run`, both into the embedded store.

Usage: ``python benchmarks/flyte/bench_flyte_decorator.py [--calls N] [--logs N]``.
Timings are noisy when other work shares the machine; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable

from flytekit import current_context, task
from flytekitplugins.neptune import neptune_scale_run
from flytekitplugins.neptune._task_run import task_run_class
from neptune_scale import Run

PROJECT = "bench/flyte"
ROUNDS = 5
METRICS = {"loss": 0.5, "accuracy": 0.9, "lr": 1e-3, "grad_norm": 1.2}


@task
def plain(x: int) -> int:
    return x + 1


@neptune_scale_run(project=PROJECT, deck=True)
@task
def tracked(x: int) -> int:
    current_context().user_space_params.NEPTUNE_RUN.log_metrics({"x": float(x)}, step=0)
    return x + 1


@neptune_scale_run(project=PROJECT, mode="disabled")
@task
def tracked_disabled(x: int) -> int:
    current_context().user_space_params.NEPTUNE_RUN.log_metrics({"x": float(x)}, step=0)
    return x + 1


def _bare_run() -> None:
    with Run(project=PROJECT) as run:
        run.log_metrics({"x": 1.0}, step=0)


def _per_call_ms(fn: Callable[[], object], calls: int) -> tuple[float, float]:
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples), max(samples)


def _per_log_us(run: Run | _Releasing, logs: int) -> float:
    start = time.perf_counter()
    for step in range(logs):
        run.log_metrics(METRICS, step=step)
    elapsed = time.perf_counter() - start
    run.close()
    return elapsed / logs * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--logs", type=int, default=5_000, help="log calls per round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["NEPTUNE_LOG_DIRECTORY"] = folder
        os.environ.pop("NEPTUNE_API_TOKEN", None)
        rows = [
            ("task call: plain @task", *_per_call_ms(lambda: plain(x=1), args.calls), "ms"),
            (
                "task call: neptune_scale_run (store)",
                *_per_call_ms(lambda: tracked(x=1), args.calls),
                "ms",
            ),
            (
                "task call: neptune_scale_run (disabled)",
                *_per_call_ms(lambda: tracked_disabled(x=1), args.calls),
                "ms",
            ),
        ]
        rows.append(
            ("bare Run: open, log, close (no Flyte)", *_per_call_ms(_bare_run, args.calls), "ms")
        )
        bare: list[float] = []
        injected: list[float] = []
        for _ in range(ROUNDS):  # interleaved, so machine load hits both alike
            bare.append(
                _per_log_us(Run(project=PROJECT, enable_console_log_capture=False), args.logs)
            )
            run = task_run_class()(project=PROJECT, enable_console_log_capture=False)
            injected.append(_per_log_us(_Releasing(run), args.logs))
    rows += [
        ("log_metrics: bare Run (4 metrics)", statistics.median(bare), max(bare), "µs"),
        ("log_metrics: injected run (4 metrics)", statistics.median(injected), max(injected), "µs"),
    ]
    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores shared; figures are noisy)")
    print(f"{'measure':<44}{'median':>12}{'max':>12}  unit")
    for name, median, worst, unit in rows:
        print(f"{name:<44}{median:>12.2f}{worst:>12.2f}  {unit}")


class _Releasing:
    """The injected run defers close() to the decorator; the benchmark plays the decorator."""

    def __init__(self, run: Run) -> None:
        self._run = run

    def log_metrics(self, data: dict[str, float], step: int) -> None:
        self._run.log_metrics(data, step=step)

    def close(self) -> None:
        self._run.release()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
