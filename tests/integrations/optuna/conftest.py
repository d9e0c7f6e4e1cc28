"""Fixtures for the Optuna tests: real studies logged into an embedded store in ``tmp_path``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import despina_optuna
import optuna
import pytest

PROJECT = "optuna-team/tests"


@pytest.fixture(autouse=True)
def _strict_and_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Runs go to an embedded store; contained tracking errors fail the test."""
    monkeypatch.setenv("NEPTUNE_LOG_DIRECTORY", str(tmp_path / "store"))
    monkeypatch.setenv("NEPTUNE_PROJECT", PROJECT)
    monkeypatch.delenv("NEPTUNE_API_TOKEN", raising=False)
    monkeypatch.delenv("NEPTUNE_MODE", raising=False)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    previous = despina_optuna.set_strict(True)
    yield
    despina_optuna.set_strict(previous)


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Any]:
    """Call after the runs are closed: a ``despina.query.Reader`` on the test's store."""
    from despina.query import Reader

    opened: list[Any] = []

    def open_reader() -> Any:
        opened.append(Reader(tmp_path / "store"))
        return opened[-1]

    yield open_reader
    for r in opened:
        r.close()
