"""The store engines every engine-parametrized test runs on, and a fresh location of each.

``ENGINES`` maps an engine's name to a fresh, empty store location for one test (a folder, or a
PostgreSQL schema of the session's scratch database); adding an engine is one line here. The
``store_location`` fixture (tests/conftest.py) runs a test once per engine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from support.postgres_support import postgres_location

__all__ = ["ENGINES", "ENGINE_PARAMS", "fresh_location"]

ENGINES: dict[str, Callable[[Path], str]] = {
    "sqlite": lambda tmp_path: str(tmp_path / "store"),
    "postgres": lambda tmp_path: postgres_location(),
}
# Engines that need a service: their tests carry the marker (and skip, or fail in CI, without it).
_MARKS = {"postgres": pytest.mark.postgres}
ENGINE_PARAMS = [pytest.param(name, marks=_MARKS.get(name, ())) for name in sorted(ENGINES)]


def fresh_location(engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, empty store location of ``engine``; a database-backed store keeps its file
    bytes under ``tmp_path`` (``DESPINA_FILES_DIR``, inherited by server subprocesses)."""
    monkeypatch.setenv("DESPINA_FILES_DIR", str(tmp_path / "files"))
    return ENGINES[engine](tmp_path)
