"""Shared fixtures for the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.engines import ENGINE_PARAMS, fresh_location


@pytest.fixture(params=ENGINE_PARAMS)
def store_location(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A fresh, empty store location, once per engine of ``support.engines.ENGINES``."""
    return fresh_location(request.param, tmp_path, monkeypatch)
