"""System attributes synthesized for every run (protocol §5.3), as (type, value) pairs.

Datetimes are epoch milliseconds. ``sys/tags`` and ``sys/group_tags`` are stored attributes
(changed through ``modify_sets``); every run reads them, empty when never set.
"""

from __future__ import annotations

import math
from typing import Any

from despina.store._model import BOOL, DATETIME, FLOAT, INT, STRING, STRING_SET, RunRow

__all__ = ["sys_attributes"]


def sys_attributes(run: RunRow, parent: RunRow | None) -> dict[str, tuple[str, Any]]:
    experiment = run.experiment or ""
    values: dict[str, tuple[str, Any]] = {
        "sys/id": (STRING, run.short_id),
        "sys/custom_run_id": (STRING, run.custom_id),
        "sys/name": (STRING, experiment),
        "sys/experiment/name": (STRING, experiment),
        "sys/experiment/is_head": (BOOL, run.is_head),
        "sys/creation_time": (DATETIME, run.creation_ms),
        "sys/modification_time": (DATETIME, run.modification_ms),
        "sys/ping_time": (DATETIME, run.modification_ms),
        "sys/family": (STRING, run.family or run.custom_id),
        # A parent outside the run's project (older versions) is hidden, so the run is a root.
        "sys/forking/depth": (INT, run.depth if parent is not None else 0),
        "sys/owner": (STRING, "local"),
        "sys/failed": (BOOL, False),
        "sys/trashed": (BOOL, False),
        "sys/archived": (BOOL, False),
        "sys/running_time_seconds": (FLOAT, (run.modification_ms - run.creation_ms) / 1000),
        "sys/tags": (STRING_SET, []),
        "sys/group_tags": (STRING_SET, []),
    }
    if parent is not None:
        values["sys/forking/parent"] = (STRING, parent.custom_id)
        values["sys/forking/step"] = _fork_step(run.fork_step)
    if run.requested_parent is not None:
        values["sys/forking/requested_parent"] = (STRING, run.requested_parent)
    return values


def _fork_step(step: float | None) -> tuple[str, Any]:
    """``sys/forking/step`` as protocol §5.3 types it: an int, the fork point's ``Step.whole``.

    The run keeps the exact ``whole + micro / 1e6`` (lineage caps use it, and readers get it
    from the run's lineage, e.g. ``Reader.run_details``). A fork at a fractional step (the
    official client accepts a float ``fork_step``) shows only its whole part here: one type
    for every run, since neptune-query refuses a table whose column has two types.
    """
    if step is None:
        return INT, None
    return INT, math.floor(step)
