"""Choosing projects, runs and attributes from the arguments of the read API."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from despina._patterns import compile_pattern
from despina.query._filters import Filter
from despina.query._values import RunView, run_views
from despina.store import ProjectNotFound, ProjectRow, RunNotFound, RunRow, Tx

__all__ = [
    "RunsArg",
    "find_run",
    "match_names",
    "project_row",
    "select_run_ids",
    "select_runs",
]

RunsArg = str | Sequence[str] | Filter | None
# Up to this many listed run ids are looked up one by one (two indexed queries each); a longer
# list is matched against one read of all the project's runs instead.
_DIRECT_LOOKUP_MAX = 200


def project_row(tx: Tx, project: str) -> ProjectRow:
    row = tx.project(project)
    if row is None:
        known = ", ".join(p.name for p in tx.projects()) or "none"
        raise ProjectNotFound(f"no project {project!r} in this store (projects: {known})")
    return row


def find_run(tx: Tx, project: ProjectRow, run: str) -> RunRow:
    """A run by custom run id, or by short id (``sys/id``) when no custom id matches."""
    row = tx.run(project.pk, run) or tx.run_by_short_id(project.pk, run)
    if row is None:
        raise RunNotFound(f"no run {run!r} in project {project.name}")
    return row


def select_runs(
    tx: Tx,
    project: ProjectRow,
    runs: RunsArg,
    *,
    heads_only: bool = False,
    wanted: Callable[[str], bool] | None = None,
) -> list[RunView]:
    """Runs in creation order (oldest first) with their visible values.

    ``runs``: None = all; a string = regular expression searched in the custom run id; a list =
    exact custom run ids (or short ids; unknown ones are skipped); a :class:`Filter`.
    ``wanted``: the attributes whose values are needed (see ``run_views``; a Filter sees all).
    """
    rows, known = _rows(tx, project, runs, heads_only)
    views = run_views(tx, rows, known, None if isinstance(runs, Filter) else wanted)
    if isinstance(runs, Filter):
        views = [v for v in views if runs(v.values)]
    return views


def select_run_ids(
    tx: Tx, project: ProjectRow, runs: RunsArg, *, heads_only: bool = False
) -> list[str]:
    """Custom run ids of :func:`select_runs`; values are read only when a Filter needs them."""
    if isinstance(runs, Filter):
        return [v.run.custom_id for v in select_runs(tx, project, runs, heads_only=heads_only)]
    return [r.custom_id for r in _rows(tx, project, runs, heads_only)[0]]


def _rows(
    tx: Tx, project: ProjectRow, runs: RunsArg, heads_only: bool
) -> tuple[list[RunRow], dict[int, RunRow]]:
    """The chosen runs, and every run read on the way (by pk) to find parents without a query."""
    wanted = None if runs is None or isinstance(runs, str | Filter) else list(dict.fromkeys(runs))
    if wanted is not None and len(wanted) <= _DIRECT_LOOKUP_MAX:
        # a short id wins over an equal custom id, as in the project-wide lookup below
        found = (tx.run_by_short_id(project.pk, w) or tx.run(project.pk, w) for w in wanted)
        rows = [r for r in found if r is not None]
        known = {r.pk: r for r in rows}
    else:
        rows = tx.runs(project.pk)
        known = {r.pk: r for r in rows}
        if isinstance(runs, str):
            pattern = compile_pattern(runs, "runs")
            rows = [r for r in rows if pattern.search(r.custom_id)]
        elif wanted is not None:
            by_id = {r.custom_id: r for r in rows} | {r.short_id: r for r in rows}
            rows = [by_id[w] for w in wanted if w in by_id]
    if heads_only:
        rows = [r for r in rows if r.is_head]
    return rows, known


def match_names(
    names: Sequence[str], attributes: str | Sequence[str] | None, field: str = "attributes"
) -> list[str]:
    """Names chosen by a list (exact, in its order), a regex (search, sorted) or None (all).

    A regex runs on RE2 (``despina._patterns``); one it refuses raises `PatternError` naming
    ``field``.
    """
    if attributes is None:
        return sorted(names)
    if isinstance(attributes, str):
        pattern = compile_pattern(attributes, field)
        return sorted(n for n in names if pattern.search(n))
    present = set(names)
    return [a for a in dict.fromkeys(attributes) if a in present]
