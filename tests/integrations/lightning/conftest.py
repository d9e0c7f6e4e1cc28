"""Fixtures for the Lightning tests; the model, data and store reading are in lightning_support."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("lightning.pytorch")

import despina_lightning._safety as safety
from lightning_support import PROJECT


@pytest.fixture(autouse=True)
def strict_containment() -> Iterator[None]:
    """A tracking failure the logger would contain in production fails the test instead."""
    safety.CONTAINMENT.strict = True
    safety.failures.clear()
    yield
    safety.CONTAINMENT.strict = False


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs created without token or mode go into this embedded store, project PROJECT."""
    folder = tmp_path / "store"
    monkeypatch.setenv("NEPTUNE_LOG_DIRECTORY", str(folder))
    monkeypatch.setenv("NEPTUNE_PROJECT", PROJECT)
    monkeypatch.delenv("NEPTUNE_API_TOKEN", raising=False)
    monkeypatch.delenv("NEPTUNE_MODE", raising=False)
    return folder
