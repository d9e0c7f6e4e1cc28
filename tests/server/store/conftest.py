"""The store conformance suite runs once per engine listed in ``ENGINES``.

Each entry makes a fresh, empty store location for one test (a folder, or a URL). Adding an
engine is one line here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from despina.store import Store, open_store

ENGINES: dict[str, Callable[[Path], str]] = {
    "sqlite": lambda tmp_path: str(tmp_path / "store"),
}


@pytest.fixture(params=sorted(ENGINES))
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return ENGINES[request.param](tmp_path)


@pytest.fixture
def store(store_location: str) -> Iterator[Store]:
    with open_store(store_location) as opened:
        yield opened
