"""Optional system metrics: CPU, memory, and GPU memory/utilisation when a GPU is present.

A daemon thread samples shortly after the start, then every ``interval_s`` seconds, and once more
when sampling stops, so that even a stage shorter than the interval has a first and a last figure.
psutil keeps the CPU reference point per thread (a first call reads 0.0), so the thread primes
and takes every sample itself. Each sample goes to ``emit`` as one batch. Samples are
placed on the training step axis (the last step the logger saw, plus a small increment per sample
while that step lasts), so they line up with the training charts and continue correctly in forks.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["SystemMetricsSampler", "sample_system"]

log = logging.getLogger("despina_lightning")

BYTES_PER_MIB = 1024 * 1024
#: Default sampling period.
DEFAULT_INTERVAL_S = 10.0
#: When the first sample is taken (or after one interval, if that is shorter).
FIRST_SAMPLE_AFTER_S = 1.0


def _gpu_metrics(namespace: str) -> dict[str, float]:
    import torch

    out: dict[str, float] = {}
    if not torch.cuda.is_available():
        return out
    for index in range(torch.cuda.device_count()):
        base = f"{namespace}/gpu/{index}"
        out[f"{base}/memory_allocated_mib"] = torch.cuda.memory_allocated(index) / BYTES_PER_MIB
        out[f"{base}/memory_reserved_mib"] = torch.cuda.memory_reserved(index) / BYTES_PER_MIB
        # utilization needs pynvml / amdsmi; the memory figures are worth having without it.
        with contextlib.suppress(Exception):
            out[f"{base}/utilization_percent"] = float(torch.cuda.utilization(index))
    return out


def sample_system(psutil: Any, process: Any, namespace: str) -> dict[str, float]:
    """One sample of CPU, memory and (when present) GPU figures under ``namespace``."""
    memory = psutil.virtual_memory()
    out = {
        f"{namespace}/cpu/percent": float(psutil.cpu_percent(interval=None)),
        f"{namespace}/memory/used_percent": float(memory.percent),
        f"{namespace}/memory/used_mib": (memory.total - memory.available) / BYTES_PER_MIB,
        f"{namespace}/process/rss_mib": process.memory_info().rss / BYTES_PER_MIB,
        f"{namespace}/process/cpu_percent": float(process.cpu_percent(interval=None)),
    }
    out.update(_gpu_metrics(namespace))
    return out


class SystemMetricsSampler:
    """Samples system figures on a daemon thread and passes each sample to ``emit``."""

    def __init__(
        self, emit: Callable[[dict[str, float]], None], namespace: str, interval_s: float
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"system_metrics_interval_s must be > 0 seconds, got {interval_s}")
        self._emit = emit
        self._namespace = namespace
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start sampling; False (with a warning) when psutil is not installed."""
        try:
            import psutil
        except ImportError:
            log.warning("System metrics need psutil: pip install 'despina[lightning]'")
            return False
        process = psutil.Process()
        self._thread = threading.Thread(
            target=self._loop, args=(psutil, process), name="despina-system-metrics", daemon=True
        )
        self._thread.start()
        return True

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread, which takes its last sample first (do not hold a lock ``emit``
        takes)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        self._thread = None

    def _loop(self, psutil: Any, process: Any) -> None:
        # The first cpu_percent call of a thread only sets its reference point.
        psutil.cpu_percent(interval=None)
        process.cpu_percent(interval=None)
        wait_s = min(FIRST_SAMPLE_AFTER_S, self._interval_s)
        while True:
            stopping = self._stop.wait(wait_s)
            if not self._sample(psutil, process) or stopping:
                return
            wait_s = self._interval_s

    def _sample(self, psutil: Any, process: Any) -> bool:
        try:
            self._emit(sample_system(psutil, process, self._namespace))
        except Exception:
            log.warning("System metrics sample failed; sampling stops", exc_info=True)
            return False
        return True
