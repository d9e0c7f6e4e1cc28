"""System attributes synthesized for every run (protocol §5.3), as (type, value) pairs.

Datetimes are epoch milliseconds. ``sys/tags`` and ``sys/group_tags`` are stored attributes
(changed through ``modify_sets``); every run reads them, empty when never set.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from despina.store._model import BOOL, DATETIME, FLOAT, INT, STRING, STRING_SET, RunRow

__all__ = ["project_uuid", "run_uuid", "sys_attributes"]

# Fixed namespaces: a project and a run get the same UUID from every server process and store
# engine (they are derived from names, which never change, not from row keys).
_RUN_NAMESPACE = uuid.UUID("6b3f0f1e-6a4e-4f5e-9d0c-64657370696e")
_PROJECT_NAMESPACE = uuid.uuid5(_RUN_NAMESPACE, "projects")


def run_uuid(project: str, run: RunRow) -> str:
    """The run's UUID: ``sys/diagnostics/run_uuid``, and its ``experiment_id`` on the wire."""
    return str(uuid.uuid5(_RUN_NAMESPACE, f"{project}/{run.custom_id}"))


def project_uuid(project: str) -> str:
    return str(uuid.uuid5(_PROJECT_NAMESPACE, project))


def sys_attributes(run: RunRow, parent: RunRow | None, project: str) -> dict[str, tuple[str, Any]]:
    """The run's ``sys/`` attributes; ``project`` is its project's ``workspace/project``."""
    experiment = run.experiment or ""
    values: dict[str, tuple[str, Any]] = {
        "sys/id": (STRING, run.short_id),
        "sys/custom_run_id": (STRING, run.custom_id),
        "sys/diagnostics/project_uuid": (STRING, project_uuid(project)),
        "sys/diagnostics/run_uuid": (STRING, run_uuid(project, run)),
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
