"""Reading back what a store holds, through the engine's primitives (fork lineage included).

Shared by the server's API tests and the compatibility tests, which check stored data without
going through the read API they also test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from despina.store import Store, ancestry, decode_value, open_store


class StoredRuns:
    """Read back what the server stored (engine primitives; fork lineage included)."""

    def __init__(self, store: str | Store) -> None:
        # A location is opened (and closed by `close`); a Store is borrowed from its owner.
        self._owned = isinstance(store, str)
        self.store = open_store(store, create=False) if isinstance(store, str) else store

    def run(self, project: str, run_id: str) -> Any:
        with self.store.engine.read() as tx:
            row = tx.project(project)
            return None if row is None else tx.run(row.pk, run_id)

    def attributes(self, project: str, run_id: str) -> dict[str, Any]:
        run = self.run(project, run_id)
        with self.store.engine.read() as tx:
            return {p: decode_value(v) for p, (_, v) in tx.attributes(run.pk).items()}

    def floats(self, project: str, run_id: str, path: str) -> list[tuple[float, float]]:
        run = self.run(project, run_id)
        points: dict[float, float] = {}
        with self.store.engine.read() as tx:
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

    def names(self, project: str, run_id: str) -> tuple[set[str], set[str]]:
        """(non-sys attribute paths, series paths) of the run itself."""
        run = self.run(project, run_id)
        with self.store.engine.read() as tx:
            attributes = {p for p in tx.attributes(run.pk) if not p.startswith("sys/")}
            return attributes, set(tx.series(run.pk))

    def points(self, project: str, run_id: str, path: str) -> list[tuple[float, Any]]:
        """Own points of a non-float series (string, histogram, file)."""
        run = self.run(project, run_id)
        with self.store.engine.read() as tx:
            state = tx.series(run.pk, [path]).get(path)
            if state is None:
                return []
            return [(p.step, decode_value(p.value)) for p in tx.points(state.pk, None, None)]

    def close(self) -> None:
        if self._owned:
            self.store.close()
