"""System metrics benchmark: what the sampler stage costs (``Run(system_metrics=...)``).

Opens a run into the embedded store with the sampler on a short interval (so many samples fall
in a few seconds), lets it sample while the main thread idles, and reads the sampler thread's own
CPU time from the operating system (psutil's per-thread times). Prints one table: samples taken,
CPU per sample (probe + encoding + append), and the share of one core that makes at the default
10 s interval and at 1 s. The target is at most 0.5% of one core at the default interval.

The ``log_metrics`` hot path does not change with the sampler (it does not call ``log_metrics``):
``benchmarks/client/bench_client.py`` measures that figure, before and after.

Usage: ``python benchmarks/client/bench_system_metrics.py [--seconds S] [--interval S]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections.abc import Sequence

import psutil

DEFAULT_INTERVAL_S = 10.0
TARGET_CORE_PERCENT = 0.5
SAMPLER = "neptune-system-metrics"


def sampler_cpu_s() -> float:
    """The sampler thread's CPU time (user + system) so far."""
    native = [t.native_id for t in threading.enumerate() if t.name == SAMPLER]
    assert len(native) == 1, "one sampler thread expected"
    for thread in psutil.Process().threads():
        if thread.id == native[0]:
            return float(thread.user_time + thread.system_time)
    raise RuntimeError("the sampler thread is not listed by the operating system")


def measure(seconds: float, interval: float) -> dict[str, float]:
    from neptune_scale import Run

    folder = tempfile.mkdtemp(prefix="bench-sysmetrics-")
    run = Run(project="bench/system", run_id="sampled", log_directory=folder,
              enable_console_log_capture=False, source_tracking_config=None,
              system_metrics=interval)  # fmt: skip
    time.sleep(1.0)  # past the first sample (the probe's set-up is not a per-sample cost)
    cpu0, wall0 = sampler_cpu_s(), time.monotonic()
    time.sleep(seconds)
    cpu, wall = sampler_cpu_s() - cpu0, time.monotonic() - wall0
    loop_ms = sample_loop_ms(run)
    run.close()
    samples = wall / interval
    per_sample_ms = cpu / samples * 1e3
    return {
        "samples": samples,
        "per_sample_ms": per_sample_ms,
        "series": float(len(psutil_figures())),
        "loop_ms": loop_ms,
        "core_default": per_sample_ms / 1e3 / DEFAULT_INTERVAL_S * 100,
        "core_1s": per_sample_ms / 1e3 / 1.0 * 100,
    }


def sample_loop_ms(run: object, n: int = 500) -> float:
    """CPU ms of one sample taken in a loop on this thread (thread_time's fine resolution; the
    operating system's per-thread times count in scheduler ticks)."""
    from neptune_scale._system_metrics import Probe, SystemSampler

    sampler = SystemSampler(run, 10.0, "bench", None)  # type: ignore[arg-type]
    probe = Probe()
    start = time.thread_time()
    for _ in range(n):
        sampler._log(probe.sample())
    return (time.thread_time() - start) / n * 1e3


def psutil_figures() -> dict[str, float]:
    from neptune_scale._system_metrics import Probe

    return Probe().sample()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to sample")
    parser.add_argument("--interval", type=float, default=0.1, help="sampling interval (s)")
    args = parser.parse_args(argv)
    row = measure(args.seconds, args.interval)
    load = os.getloadavg()[0]
    print(f"system metrics sampler, {args.seconds:.0f} s at {args.interval} s (load {load:.1f})")
    print(f"{'figure':<52}{'value':>12}{'target':>12}")
    print(f"{'samples taken':<52}{row['samples']:>12.0f}{'':>12}")
    print(f"{'series per sample (this machine)':<52}{row['series']:>12.0f}{'':>12}")
    print(
        f"{'sampler thread CPU per sample, ms (OS ticks)':<52}{row['per_sample_ms']:>12.3f}{'':>12}"
    )
    print(f"{'one sample in a loop, CPU ms (thread_time)':<52}{row['loop_ms']:>12.3f}{'':>12}")
    print(
        f"{'% of one core at the default 10 s interval':<52}{row['core_default']:>12.4f}"
        f"{TARGET_CORE_PERCENT:>12.1f}"
    )
    print(f"{'% of one core at a 1 s interval':<52}{row['core_1s']:>12.4f}{'':>12}")
    return 0 if row["core_default"] <= TARGET_CORE_PERCENT else 1


if __name__ == "__main__":
    raise SystemExit(main())
