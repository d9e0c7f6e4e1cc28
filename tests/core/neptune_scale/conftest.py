"""Fixtures for the client tests: a clean environment and runs on the in-memory transport."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from neptune_scale import Run
from neptune_scale.testing import MemoryTransport

NEPTUNE_ENV = (
    "NEPTUNE_API_TOKEN",
    "NEPTUNE_PROJECT",
    "NEPTUNE_MODE",
    "NEPTUNE_LOG_DIRECTORY",
    "NEPTUNE_LOG_FAILURE_ACTION",
    "NEPTUNE_SYSTEM_METRICS",
    "NEPTUNE_SYSTEM_METRICS_INTERVAL",
)


@pytest.fixture(autouse=True)
def clean_neptune_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NEPTUNE_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def memory() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
def make_run(tmp_path: Path, memory: MemoryTransport) -> Iterator[Callable[..., Run]]:
    """Runs on the in-memory transport, logging under tmp_path, without console/source extras
    unless asked for; every run is closed at the end of the test."""
    runs: list[Run] = []

    def make(**kwargs: Any) -> Run:
        kwargs.setdefault("project", "ws/proj")
        kwargs.setdefault("run_id", f"run-{len(runs)}")
        kwargs.setdefault("log_directory", tmp_path)
        kwargs.setdefault("transport", memory)
        kwargs.setdefault("enable_console_log_capture", False)
        kwargs.setdefault("source_tracking_config", None)
        run = Run(**kwargs)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.terminate()
