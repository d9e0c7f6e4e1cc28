"""The compare page's data: every config of the chosen runs side by side, flagged when differing."""

from __future__ import annotations

from typing import Any

from despina.ui._source import UiSource

__all__ = ["MAX_COMPARED_RUNS", "compare_payload"]

MAX_COMPARED_RUNS = 20  # also the most runs one chart overlays


def compare_payload(source: UiSource, project: str, runs: list[str]) -> dict[str, Any]:
    """``rows`` (name, values in run order, differs) and the union of the runs' metrics."""
    with source.read(project) as read:  # one snapshot for all the runs
        details = [read.run_details(run) for run in runs]
    names: dict[str, None] = {}
    metrics: dict[str, None] = {}
    by_run: list[dict[str, Any]] = []
    for detail in details:
        values = {config["name"]: config["value"] for config in detail["configs"]}
        values["sys/tags"] = detail["tags"]
        by_run.append(values)
        names.update(dict.fromkeys(values))
        metrics.update(dict.fromkeys(detail["metrics"]))
    rows = []
    for name in sorted(names):
        side_by_side = [run_values.get(name) for run_values in by_run]
        first = side_by_side[0]
        differs = any(v != first for v in side_by_side[1:])
        rows.append({"name": name, "values": side_by_side, "differs": differs})
    return {"runs": runs, "rows": rows, "metrics": list(metrics)}
