"""Fixtures for the Flyte integration tests: an embedded store per test, and reading it back."""

from __future__ import annotations

from pathlib import Path

import pytest
from flyte_stored import QueriedRuns

# Client settings a developer's shell may carry; each test starts without them.
_CLIENT_ENV = ("NEPTUNE_API_TOKEN", "NEPTUNE_PROJECT", "NEPTUNE_MODE", "NEPTUNE_LOG_DIRECTORY")


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty embedded store the client writes into; the test runs in its own folder."""
    for name in _CLIENT_ENV:
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "store"
    monkeypatch.setenv("NEPTUNE_LOG_DIRECTORY", str(folder))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return folder


@pytest.fixture
def stored(store_dir: Path) -> QueriedRuns:
    return QueriedRuns(store_dir)
