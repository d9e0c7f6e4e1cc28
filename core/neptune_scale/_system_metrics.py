"""System metrics: one sampler stage that records the machine's vitals next to the run.

``Run(system_metrics=True)`` (or ``NEPTUNE_SYSTEM_METRICS=1`` for scripts one cannot edit) starts
a :class:`SystemSampler` on the worker base. It samples shortly after the start, then every
interval (10 s by default), and once more when the run closes, so a run shorter than the interval
still gets a first and a last figure. Off by default: the official client records none of these
attributes, and a drop-in client must not add attributes (and their storage) nobody asked for.

What a sample holds, under ``system/`` (``system/rank_<N>/`` when a launcher started more than
one process, so DDP ranks never write one series from two processes):

* ``cpu/percent`` (whole machine) and ``process/cpu_percent`` (this process; above 100 on more
  than one core), ``process/rss_mib``;
* ``memory/used_mib``, ``memory/available_mib``, ``memory/used_percent``;
* ``disk/read_mib_s``, ``disk/write_mib_s``, ``network/sent_mib_s``, ``network/recv_mib_s``
  (rates since the previous sample);
* ``gpu/<i>/{utilization_percent,memory_used_mib,memory_total_mib,temperature_c,power_w}`` per
  device, through ``nvidia-ml-py`` (the ``gpu`` extra); no library, driver or device means no
  GPU series and one debug line.

The step of a sample is the number of seconds since the run was opened (milliseconds kept), after
the fork step in a forked run: one axis that only grows, the same for every run, so runs compare
(a training step axis would need ``log_metrics`` to note each step, a cost on its hot path).
A resumed run (``resume=True``) has earlier samples at steps unknown here, so it samples only
under a rank of its own (a DDP rank joining the run); otherwise it says so in one info line.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from neptune_scale import wire as enc
from neptune_scale._worker import IDLE, Worker

if TYPE_CHECKING:
    from neptune_scale._recorder import Recorder

__all__ = [
    "DEFAULT_INTERVAL_S",
    "ENV_ENABLE",
    "ENV_INTERVAL",
    "SystemSampler",
    "namespace_for",
    "resolve_interval",
]

logger = logging.getLogger("neptune")

DEFAULT_INTERVAL_S = 10.0
MIN_INTERVAL_S = 0.1
FIRST_SAMPLE_AFTER_S = 0.5  # the first CPU figure needs a reference point taken before it
SUBSTEP = 1e-3
NAMESPACE = "system"
ENV_ENABLE = "NEPTUNE_SYSTEM_METRICS"
ENV_INTERVAL = "NEPTUNE_SYSTEM_METRICS_INTERVAL"
MIB = 1024 * 1024
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")
# (rank, world size) variables of the launchers that start one process per rank.
_RANK_ENVS = (
    ("RANK", "WORLD_SIZE"),  # torchrun, torch.distributed, Lightning, accelerate
    ("SLURM_PROCID", "SLURM_NTASKS"),
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
    ("PMI_RANK", "PMI_SIZE"),
)


def resolve_interval(setting: bool | float | None) -> float | None:
    """The sampling interval in seconds, or None when system metrics are off.

    ``setting`` is the ``Run(system_metrics=...)`` argument: True (default interval), a number of
    seconds, False, or None (then the environment decides)."""
    if setting is None:
        raw = os.environ.get(ENV_ENABLE, "").strip().lower()
        if raw in _FALSE:
            return None
        if raw not in _TRUE:
            raise ValueError(
                f"{ENV_ENABLE} must be one of 1/true/yes/on/0/false/no/off, got {raw!r}"
            )
        interval = os.environ.get(ENV_INTERVAL, "").strip()
        setting = _parse_seconds(interval) if interval else True
    if setting is False:
        return None
    if setting is True:
        return DEFAULT_INTERVAL_S
    if not isinstance(setting, int | float) or not math.isfinite(setting):
        raise TypeError(f"system_metrics must be a bool or a number of seconds, got {setting!r}")
    if setting < MIN_INTERVAL_S:
        raise ValueError(
            f"system_metrics interval must be at least {MIN_INTERVAL_S} seconds, got {setting}"
        )
    return float(setting)


def _parse_seconds(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{ENV_INTERVAL} must be a number of seconds, got {raw!r}") from None


def namespace_for(environ: Mapping[str, str] | None = None) -> str:
    """``system``, or ``system/rank_<N>`` in one of several processes a launcher started."""
    env = os.environ if environ is None else environ
    for rank_var, size_var in _RANK_ENVS:
        rank, size = env.get(rank_var), env.get(size_var)
        if rank is not None and rank.isdigit() and (size is None or size != "1"):
            return f"{NAMESPACE}/rank_{int(rank)}"
    local = env.get("LOCAL_RANK")
    if local is not None and local.isdigit() and env.get("WORLD_SIZE", "") != "1":
        # Per-host ranks only (no global rank known): the host keeps two nodes apart.
        return f"{NAMESPACE}/{socket.gethostname()}/local_rank_{int(local)}"
    return NAMESPACE


class SystemSampler(Worker):
    """Samples the machine every ``interval_s`` and appends the figures to the run."""

    name = "neptune-system-metrics"

    def __init__(
        self,
        recorder: Recorder,
        interval_s: float,
        namespace: str,
        floor: float | None,
    ) -> None:
        super().__init__()
        self.idle_wake_s = interval_s
        self._recorder = recorder
        self._interval_s = interval_s
        self._namespace = namespace
        # A forked run holds its parent's points up to the fork step: its own come after it.
        self._offset = 0.0 if floor is None else floor + SUBSTEP
        self._started = time.monotonic()
        self._last_step: float | None = None
        self._probe: Probe | None = None
        self._off = False

    def work(self) -> float | None:
        if self._off:
            return IDLE
        if self._probe is None:
            try:
                self._probe = Probe()  # takes the reference points the first figures need
            except ImportError:
                self._off = True
                logger.warning("System metrics need psutil: pip install psutil")
                return IDLE
            if not self.closing:
                return FIRST_SAMPLE_AFTER_S
        self._log(self._probe.sample())
        return IDLE if self.closing else self._interval_s

    def on_close(self) -> None:
        if self._probe is not None:
            self._probe.shutdown()

    def _log(self, figures: dict[str, float]) -> None:
        step = self._next_step()
        recorder = self._recorder
        data = {f"{self._namespace}/{name}": value for name, value in figures.items()}
        head = enc.fast_step_field(step) + recorder._stamp(None)
        recorder._append_all(recorder._builder.metrics(data, head, b""))

    def _next_step(self) -> float:
        step = round(self._offset + time.monotonic() - self._started, 3)
        if self._last_step is not None and step <= self._last_step:
            step = round(self._last_step + SUBSTEP, 6)
        self._last_step = step
        return step


class Probe:
    """Reads the figures (psutil, and nvidia-ml-py when there is a GPU to read)."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._process = psutil.Process()
        # cpu_percent's first call only sets its reference point (and reads 0.0).
        psutil.cpu_percent(interval=None)
        self._process.cpu_percent(interval=None)
        self._counters = self._io_counters()
        self._at = time.monotonic()
        self._gpus = _open_gpus()

    def sample(self) -> dict[str, float]:
        psutil = self._psutil
        memory = psutil.virtual_memory()
        out = {
            "cpu/percent": float(psutil.cpu_percent(interval=None)),
            "process/cpu_percent": float(self._process.cpu_percent(interval=None)),
            "process/rss_mib": self._process.memory_info().rss / MIB,
            "memory/used_mib": (memory.total - memory.available) / MIB,
            "memory/available_mib": memory.available / MIB,
            "memory/used_percent": float(memory.percent),
        }
        out.update(self._rates())
        for index, handle in enumerate(self._gpus):
            out.update(_gpu_figures(index, handle))
        return out

    def shutdown(self) -> None:
        if self._gpus:
            _nvml_call(_nvml().nvmlShutdown)

    def _io_counters(self) -> dict[str, float]:
        counters: dict[str, float] = {}
        disk = _quiet(self._psutil.disk_io_counters)
        if disk is not None:
            counters["disk/read_mib_s"] = disk.read_bytes
            counters["disk/write_mib_s"] = disk.write_bytes
        net = _quiet(self._psutil.net_io_counters)
        if net is not None:
            counters["network/sent_mib_s"] = net.bytes_sent
            counters["network/recv_mib_s"] = net.bytes_recv
        return counters

    def _rates(self) -> dict[str, float]:
        now, counters = time.monotonic(), self._io_counters()
        elapsed = now - self._at
        before, self._counters, self._at = self._counters, counters, now
        if elapsed <= 0:
            return {}
        # A counter that went down (a device removed, a wrap) gives no rate rather than a negative.
        return {
            name: (value - before[name]) / elapsed / MIB
            for name, value in counters.items()
            if name in before and value >= before[name]
        }


def _quiet(read: Callable[[], Any]) -> Any:
    # No disks or interfaces to count (containers, some platforms): no such series.
    try:
        return read()
    except (OSError, RuntimeError):
        return None


def _nvml() -> Any:
    import pynvml

    return pynvml


def _open_gpus() -> list[Any]:
    """One handle per NVIDIA device; an empty list (and one debug line) when there is none."""
    try:
        nvml = _nvml()
        nvml.nvmlInit()
        return [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
    except Exception as error:  # ImportError, or the library's NVMLError for no driver/device
        logger.debug("System metrics: no GPU figures (%s: %s)", type(error).__name__, error)
        return []


def _nvml_call(read: Callable[..., Any], *args: Any) -> Any:
    try:
        return read(*args)
    except Exception:  # a figure the device does not support: that series is left out
        return None


def _gpu_figures(index: int, handle: Any) -> dict[str, float]:
    nvml = _nvml()
    out: dict[str, float] = {}
    rates = _nvml_call(nvml.nvmlDeviceGetUtilizationRates, handle)
    if rates is not None:
        out["utilization_percent"] = float(rates.gpu)
    memory = _nvml_call(nvml.nvmlDeviceGetMemoryInfo, handle)
    if memory is not None:
        out["memory_used_mib"] = memory.used / MIB
        out["memory_total_mib"] = memory.total / MIB
    temperature = _nvml_call(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
    if temperature is not None:
        out["temperature_c"] = float(temperature)
    milliwatts = _nvml_call(nvml.nvmlDeviceGetPowerUsage, handle)
    if milliwatts is not None:
        out["power_w"] = milliwatts / 1000.0
    return {f"gpu/{index}/{name}": value for name, value in out.items()}
