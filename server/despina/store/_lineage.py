"""Fork lineage: which runs, up to which step, make up a run's visible series."""

from __future__ import annotations

import math
from dataclasses import dataclass

from despina.store._engine import Tx
from despina.store._model import RunRow

__all__ = ["Segment", "ancestry"]

_MAX_DEPTH = 10_000  # a guard against a cycle in a damaged database


@dataclass(frozen=True, slots=True)
class Segment:
    """Points of ``run`` with step ≤ ``up_to`` (inf for the run itself)."""

    run: RunRow
    up_to: float


def ancestry(tx: Tx, run: RunRow, *, lineage: bool = True) -> list[Segment]:
    """The run first, then its ancestors, each capped at the smallest fork step below it."""
    segments = [Segment(run, math.inf)]
    cap, current = math.inf, run
    while lineage and current.parent_pk is not None and len(segments) < _MAX_DEPTH:
        parent = tx.run_by_pk(current.parent_pk)
        if parent is None:
            break
        cap = min(cap, current.fork_step if current.fork_step is not None else math.inf)
        segments.append(Segment(parent, cap))
        current = parent
    return segments
