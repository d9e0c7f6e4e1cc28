"""Read-API fixtures: a store filled through the real ``neptune_scale.Run`` (once per module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from despina.query import Reader
from reader_data import log_runs


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return log_runs(tmp_path_factory.mktemp("query") / "store")


@pytest.fixture
def reader(logged: Path) -> Iterator[Reader]:
    with Reader(logged) as opened:
        yield opened
