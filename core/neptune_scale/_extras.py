"""What a run records by itself: console output and source code (both on by default, as the
official client does), and system metrics when asked for (see ``_system_metrics``).

* Console capture tees ``sys.stdout``/``sys.stderr`` into the string series
  ``<runtime_namespace>/stdout`` and ``.../stderr`` (steps ``initial + n * 1e-6``, lines longer
  than the series limit are split), flushed about once a second by a worker.
* Source tracking, inside a git work tree only, logs ``source_code/*`` configs (commit, branch,
  remotes, dirty flag, run command) and optionally the entry point file and ``git diff HEAD``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from neptune_scale._recorder import Recorder
from neptune_scale._snapshots import MAX_STRING_SERIES_BYTES
from neptune_scale._system_metrics import NAMESPACE, SystemSampler, namespace_for
from neptune_scale._worker import IDLE, Worker

__all__ = ["SourceTrackingConfig", "start_extras"]

logger = logging.getLogger("neptune")

CONSOLE_FLUSH_S = 1.0
LINE_STEP = 1e-6  # console lines are numbered in micro-steps (the official client's scheme)
GIT_TIMEOUT_S = 5.0
SAMPLER_CLOSE_S = 5.0  # the last sample takes milliseconds; a stuck GPU driver gets this long
MAX_LINE_CHARS = MAX_STRING_SERIES_BYTES // 4  # keeps any UTF-8 line under the byte limit


@dataclass(frozen=True)
class SourceTrackingConfig:
    """What source tracking records; pass ``source_tracking_config=None``-like False to skip."""

    namespace: str = "source_code"
    upload_run_command: bool = True
    upload_entry_point: bool = False
    upload_diff_head: bool = False


class Extras:
    def __init__(self, capture: ConsoleCapture | None, sampler: SystemSampler | None) -> None:
        self._capture = capture
        self._sampler = sampler

    def flush(self) -> None:
        if self._capture is not None:
            self._capture.flush_now()

    def stop(self) -> None:
        # First the sampler: its last sample goes in before the run's log closes.
        if self._sampler is not None:
            self._sampler.close(timeout=SAMPLER_CLOSE_S)
            self._sampler = None
        if self._capture is not None:
            self._capture.uninstall()
            self._capture = None


def start_extras(
    recorder: Recorder,
    *,
    console: bool,
    namespace: str | None,
    source: Any,
    first_step: float,
    forked: bool = False,
    system_interval_s: float | None = None,
    resumed: bool = False,
) -> Extras:
    """Record the source (once, now), start console capture and the system-metrics sampler, as
    configured; console lines are numbered from ``first_step`` (a fork's step, so they follow
    the parent's), and so are a forked run's samples."""
    if source is not False:
        # No git, or not inside a repository: nothing to record.
        with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
            config = source if isinstance(source, SourceTrackingConfig) else None
            track_source(recorder, config or SourceTrackingConfig())
    capture = None
    if console:
        capture = ConsoleCapture(recorder, namespace or "runtime", first_step)
        capture.install()
    floor = first_step if forked else None
    return Extras(capture, start_sampler(recorder, system_interval_s, resumed, floor))


def start_sampler(
    recorder: Recorder, interval_s: float | None, resumed: bool, floor: float | None
) -> SystemSampler | None:
    namespace = namespace_for()
    if interval_s is None:
        return None
    if resumed and namespace == NAMESPACE:
        # Its earlier samples hold steps up to a time unknown here: new ones would be refused.
        logger.info("System metrics are not sampled in a resumed run (resume=True)")
        return None
    sampler = SystemSampler(recorder, interval_s, namespace, floor)
    sampler.start()
    return sampler


class _Tee:
    """Stands in for sys.stdout/stderr: writes through, and keeps complete lines."""

    def __init__(self, original: TextIO, sink: ConsoleCapture, name: str) -> None:
        self._original = original
        self._sink = sink
        self._name = name
        self._pid = os.getpid()
        self.active = True

    def write(self, text: str) -> int:
        written = self._original.write(text)
        if self.active and os.getpid() == self._pid:  # a forked child does not capture
            self._sink.collect(self._name, text)
        return written

    def flush(self) -> None:
        self._original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


class ConsoleCapture(Worker):
    name = "neptune-console"
    idle_wake_s = CONSOLE_FLUSH_S

    def __init__(self, recorder: Recorder, namespace: str, initial_step: float) -> None:
        super().__init__()
        self._recorder = recorder
        self._namespace = namespace
        self._lock = threading.Lock()
        self._partial = {"stdout": "", "stderr": ""}
        self._lines: list[tuple[str, str, datetime]] = []
        self._step = {"stdout": initial_step, "stderr": initial_step}
        self._tees: dict[str, _Tee] = {}

    def install(self) -> None:
        for name in ("stdout", "stderr"):
            tee = _Tee(getattr(sys, name), self, name)
            self._tees[name] = tee
            setattr(sys, name, tee)
        self.start()

    def uninstall(self) -> None:
        for name, tee in self._tees.items():
            tee.active = False
            if getattr(sys, name) is tee:
                setattr(sys, name, tee._original)
        self.close(timeout=CONSOLE_FLUSH_S)
        self.flush_now(final=True)

    def collect(self, name: str, text: str) -> None:
        # A string value cannot hold NUL (a store refuses it); printed output keeps a visible mark.
        text = text.replace("\x00", "\ufffd")
        with self._lock:
            pending = self._partial[name] + text
            *complete, self._partial[name] = pending.split("\n")
            now = datetime.now().astimezone()
            for line in complete:
                for start in range(0, max(len(line), 1), MAX_LINE_CHARS):
                    self._lines.append((name, line[start : start + MAX_LINE_CHARS], now))

    def work(self) -> float | None:
        self.flush_now()
        return IDLE

    def flush_now(self, final: bool = False) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
            if final:
                for name, rest in self._partial.items():
                    if rest:
                        lines.append((name, rest, datetime.now().astimezone()))
                        self._partial[name] = ""
        for name, line, when in lines:
            self._step[name] += LINE_STEP
            self._recorder.string_series(
                {f"{self._namespace}/{name}": line}, round(self._step[name], 6), when
            )


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_S,
        check=True,
    )
    return done.stdout.strip()


def track_source(recorder: Recorder, config: SourceTrackingConfig) -> None:
    root = Path(_git(Path.cwd(), "rev-parse", "--show-toplevel"))
    ns = config.namespace
    commit_id, message, author, email, date = _git(
        root, "log", "-1", "--format=%H%x00%s%x00%an%x00%ae%x00%aI"
    ).split("\x00")
    configs: dict[str, Any] = {
        f"{ns}/commit/commit_id": commit_id,
        f"{ns}/commit/message": message,
        f"{ns}/commit/author_name": author,
        f"{ns}/commit/author_email": email,
        f"{ns}/commit/commit_date": datetime.fromisoformat(date),
        f"{ns}/branch": _git(root, "rev-parse", "--abbrev-ref", "HEAD"),
        f"{ns}/dirty": bool(_git(root, "status", "--porcelain", "--untracked-files=no")),
    }
    for line in _git(root, "remote", "-v").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            configs[f"{ns}/remote/{parts[0]}"] = parts[1]
    if config.upload_run_command:
        configs[f"{ns}/run_command"] = " ".join([sys.executable, *sys.argv])
    recorder.configs(configs, False, False)
    files: dict[str, Any] = {}
    entry = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if config.upload_entry_point and entry is not None and entry.is_file():
        files[f"{ns}/entry_point"] = entry
    if config.upload_diff_head:
        diff = _git(root, "diff", "HEAD")
        if diff:
            files[f"{ns}/diff/head"] = diff.encode("utf-8")
    if files:
        recorder.files(files, None, None)
