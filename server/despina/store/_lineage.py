"""Fork lineage: which runs, up to which step, make up a run's visible series.

A fork parent is always in its child's project (as in Neptune; the store refuses a parent
elsewhere when the child is created). Older versions stored a parent in any project, so every
reader walks lineage through `parent_of`, which never follows a link out of the run's project:
a token limited to one project must not read another project's points or configs through it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from despina.store._engine import Tx
from despina.store._model import RunRow

__all__ = ["Segment", "ancestry", "parent_of"]

_MAX_DEPTH = 10_000  # a guard against a cycle in a damaged database


@dataclass(frozen=True, slots=True)
class Segment:
    """Points of ``run`` with step ≤ ``up_to`` (inf for the run itself)."""

    run: RunRow
    up_to: float


def parent_of(tx: Tx, run: RunRow, known: Mapping[int, RunRow] | None = None) -> RunRow | None:
    """The run's fork parent when it is in the run's project, else None (as for a root run).

    ``known``: runs already read, by pk, so a parent among them costs no query.
    """
    if run.parent_pk is None:
        return None
    parent = known.get(run.parent_pk) if known is not None else None
    if parent is None:
        parent = tx.run_by_pk(run.parent_pk)
    if parent is None or parent.project_pk != run.project_pk:
        return None
    return parent


def ancestry(
    tx: Tx, run: RunRow, *, lineage: bool = True, known: dict[int, RunRow] | None = None
) -> list[Segment]:
    """The run first, then its ancestors, each capped at the smallest fork step below it.

    ``known``: runs by pk, consulted before the database and filled with the parents read.
    """
    segments = [Segment(run, math.inf)]
    cap, current = math.inf, run
    while lineage and len(segments) < _MAX_DEPTH:
        parent = parent_of(tx, current, known)
        if parent is None:
            break
        if known is not None:
            known[parent.pk] = parent
        cap = min(cap, current.fork_step if current.fork_step is not None else math.inf)
        segments.append(Segment(parent, cap))
        current = parent
    return segments
