"""``run_details``: everything about one run in one dict (the shape is documented in __init__)."""

from __future__ import annotations

import math
from typing import Any

from despina.query._values import TYPE_NAMES, python_value, run_view
from despina.store import RunRow, Tx, ancestry

__all__ = ["details_of"]

_TAGS, _GROUP_TAGS = "sys/tags", "sys/group_tags"


def _series_entry(view: Any, path: str, own: bool) -> dict[str, Any]:
    state = view.series[path]
    mean = state.vsum / state.finite_count if state.finite_count else None
    return {
        "type": TYPE_NAMES[state.type],
        "last": view.values.get(path),
        "last_step": state.last_step if own else None,
        "count": state.count if own else None,
        "min": state.vmin if own else None,
        "max": state.vmax if own else None,
        "mean": mean if own else None,
        "inherited": not own,
    }


def details_of(tx: Tx, project: str, run: RunRow) -> dict[str, Any]:
    view = run_view(tx, run)
    own = {path for path, s in view.series.items() if s.run_pk == run.pk}
    configs = {
        path: value
        for path, value in sorted(view.values.items())
        if not path.startswith("sys/") and path not in view.series
    }
    chain = ancestry(tx, run)
    # A child in another project (stored by older versions) is not shown: see parent_of.
    children = [c.custom_id for c in tx.children(run.pk) if c.project_pk == run.project_pk]
    fork_step = run.fork_step if view.parent is not None else None
    return {
        "project": project,
        "run_id": run.custom_id,
        "sys_id": run.short_id,
        "experiment": run.experiment,
        "is_head": run.is_head,
        "creation_time": python_value("datetime", run.creation_ms),
        "modification_time": python_value("datetime", run.modification_ms),
        "configs": {p: sorted(v) if isinstance(v, set) else v for p, v in configs.items()},
        "tags": sorted(view.values.get(_TAGS) or ()),
        "group_tags": sorted(view.values.get(_GROUP_TAGS) or ()),
        "series": {path: _series_entry(view, path, path in own) for path in sorted(view.series)},
        "last_values": {path: view.values.get(path) for path in sorted(view.series)},
        "lineage": {
            "parent": view.parent.custom_id if view.parent else None,
            "fork_step": None if fork_step is None or math.isinf(fork_step) else fork_step,
            "requested_parent": run.requested_parent,
            "ancestors": [segment.run.custom_id for segment in chain[1:]],
            "children": children,
            "depth": run.depth if view.parent is not None else 0,
        },
        "sys": {p: v for p, v in sorted(view.values.items()) if p.startswith("sys/")},
    }
