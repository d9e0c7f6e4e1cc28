"""Fixtures for the Flyte integration tests: an embedded store per test, and reading it back."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

PROJECT = "flyte-ws/flyte-proj"
# Client settings a developer's shell may carry; each test starts without them.
_CLIENT_ENV = ("NEPTUNE_API_TOKEN", "NEPTUNE_PROJECT", "NEPTUNE_MODE", "NEPTUNE_LOG_DIRECTORY")


class StoredRuns:
    """What the store at `location` holds, read back through the store's read primitives.

    # TODO(reader): switch to despina.query.Reader.run_details / fetch_metrics once it lands;
    # the reader is not in the tree yet (issue of the query part).
    """

    def __init__(self, location: Path) -> None:
        self.location = location

    def _read(self) -> Any:
        """A read transaction on a store opened for this one question (tests write between)."""
        from despina.store import open_store

        stack = ExitStack()
        store = stack.enter_context(open_store(self.location, create=False))
        tx = stack.enter_context(store.engine.read())
        return stack, store, tx

    def run_ids(self, project: str = PROJECT) -> list[str]:
        stack, _, tx = self._read()
        with stack:
            row = tx.project(project)
            return [] if row is None else sorted(r.custom_id for r in tx.runs(row.pk))

    def run(self, run_id: str, project: str = PROJECT) -> Any:
        stack, _, tx = self._read()
        with stack:
            row = tx.project(project)
            run = None if row is None else tx.run(row.pk, run_id)
        assert run is not None, f"run {run_id!r} is not in the store"
        return run

    def parent_id(self, run_id: str) -> str | None:
        run = self.run(run_id)
        if run.parent_pk is None:
            return None
        stack, _, tx = self._read()
        with stack:
            parent = tx.run_by_pk(run.parent_pk)
        return None if parent is None else str(parent.custom_id)

    def attributes(self, run_id: str, project: str = PROJECT) -> dict[str, Any]:
        from despina.store import decode_value

        run = self.run(run_id, project)
        stack, _, tx = self._read()
        with stack:
            return {p: decode_value(v) for p, (_, v) in tx.attributes(run.pk).items()}

    def floats(self, run_id: str, path: str, project: str = PROJECT) -> list[tuple[float, float]]:
        """The visible float series: own points, then ancestors' up to the fork step."""
        import numpy as np
        from despina.store import ancestry

        run = self.run(run_id, project)
        points: dict[float, float] = {}
        stack, _, tx = self._read()
        with stack:
            for segment in ancestry(tx, run):
                state = tx.series(segment.run.pk, [path]).get(path)
                if state is None:
                    continue
                for chunk in tx.chunks(state.pk, None, segment.up_to):
                    steps = np.frombuffer(chunk.steps, "<f8")
                    values = np.frombuffer(chunk.values, "<f8")
                    for step, value in zip(steps, values, strict=True):
                        if step <= segment.up_to:
                            points.setdefault(float(step), float(value))
        return sorted(points.items())

    def file_bytes(self, destination: str, project: str = PROJECT) -> bytes:
        stack, store, _ = self._read()
        with stack, store.open_file(project, destination) as handle:
            return bytes(handle.read())


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
def stored(store_dir: Path) -> StoredRuns:
    return StoredRuns(store_dir)
