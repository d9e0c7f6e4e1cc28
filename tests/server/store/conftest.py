"""The store conformance suite runs once per engine listed in ``ENGINES``.

Each entry makes a fresh, empty store location for one test (a folder, or a URL). Adding an
engine is one line here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from despina.store import Store, open_store
from postgres_support import postgres_location

ENGINES: dict[str, Callable[[Path], str]] = {
    "sqlite": lambda tmp_path: str(tmp_path / "store"),
    "postgres": lambda tmp_path: postgres_location(),
}
# Engines that need a service: their tests carry the marker (and skip, or fail in CI, without it).
ENGINE_MARKS = {"postgres": pytest.mark.postgres}


@pytest.fixture(
    params=[pytest.param(name, marks=ENGINE_MARKS.get(name, ())) for name in sorted(ENGINES)]
)
def store_location(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    # Where a database-backed store keeps file bytes (a folder store ignores it).
    monkeypatch.setenv("DESPINA_FILES_DIR", str(tmp_path / "files"))
    return ENGINES[request.param](tmp_path)


@pytest.fixture
def store(store_location: str) -> Iterator[Store]:
    with open_store(store_location) as opened:
        yield opened
