"""The store conformance suite runs once per engine of ``support.engines.ENGINES`` (the
``store_location`` fixture of tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from despina.store import Store, open_store


@pytest.fixture
def store(store_location: str) -> Iterator[Store]:
    with open_store(store_location) as opened:
        yield opened
