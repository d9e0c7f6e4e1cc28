"""Leaderboard search, attribute definitions and attribute values over one read transaction.

Each function takes a ``Tx`` and a parsed request and returns the answer the wire wants
(protocol §5.4–§5.6). Runs are seen as ``despina.query`` sees them (fork lineage on: a forked
run has its ancestors' series). Pages are offsets, issued as decimal ``nextPageToken`` strings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from neptune_api.proto.neptune_pb.api.v1.model import attributes_pb2 as at
from neptune_api.proto.neptune_pb.api.v1.model import leaderboard_entries_pb2 as le

from despina._patterns import UserPattern, compile_pattern
from despina.api._neptune_query.attrs import (
    RunRef,
    attribute_dto,
    experiment_uuid,
    float_aggregates,
    parse_run_ref,
    resolve_run,
)
from despina.api._neptune_query.models import NameFilter, NextPage, SearchRequest, TypeFilter
from despina.api._neptune_query.nql import Query
from despina.query import RunView, Snapshot
from despina.store import ProjectNotFound, ProjectRow

__all__ = ["definitions", "global_search", "name_matcher", "search", "values"]

# Always in a search entry: the client needs sys/id and the label as string_properties.
ALWAYS_PROJECTED = ("sys/id", "sys/name", "sys/custom_run_id")
DEFAULT_PAGE_LIMIT = 10_000
_AGGREGATIONS = {"min": "vmin", "max": "vmax", "average": "average", "variance": "variance"}


def project_or_404(snap: Snapshot, project: str) -> ProjectRow:
    row = snap.tx.project(project)
    if row is None:
        raise ProjectNotFound(f"no project {project!r} on this server")
    return row


def _aggregate(snap: Snapshot, view: RunView) -> Callable[[str, str], Any]:
    def value(name: str, aggregation: str) -> Any:
        if view.types.get(name) != "floatSeries":
            return None
        return getattr(float_aggregates(snap, view, name), _AGGREGATIONS[aggregation])

    return value


def _sort_key(snap: Snapshot, view: RunView, spec: SearchRequest) -> Any:
    by = spec.sorting.sortBy if spec.sorting is not None else None
    name = by.name if by is not None else "sys/creation_time"
    kind = view.types.get(name)
    if kind is None or (by is not None and by.type and by.type != kind):
        return None
    mode = by.aggregationMode if by is not None else None
    if kind == "floatSeries" and mode in _AGGREGATIONS:
        return _aggregate(snap, view)(name, mode)
    value = view.values.get(name)
    if isinstance(value, float) and math.isnan(value):
        return None
    return sorted(value) if isinstance(value, set) else value


def _sorted(snap: Snapshot, views: list[RunView], spec: SearchRequest) -> list[RunView]:
    keyed = [(_sort_key(snap, v, spec), v) for v in views]
    have = [(k, v) for k, v in keyed if k is not None]
    lacking = [v for k, v in keyed if k is None]  # runs lacking the key go last either way
    descending = spec.sorting is None or spec.sorting.dir == "descending"
    try:
        have.sort(key=lambda kv: kv[0], reverse=descending)
    except TypeError:  # values of mixed types: compare as text
        have.sort(key=lambda kv: str(kv[0]), reverse=descending)
    return [v for _, v in have] + lacking


def _matching(
    snap: Snapshot, row: ProjectRow, spec: SearchRequest, query: Query | None
) -> list[tuple[ProjectRow, RunView]]:
    every = snap.tx.runs(row.pk)
    runs = [r for r in every if r.is_head or not spec.experimentLeader]
    # One batch read for all runs (parents found among the project's runs), not two per run.
    views = snap.run_views(runs, {r.pk: r for r in every})
    if query is not None:
        views = [v for v in views if query(v.types, v.values, _aggregate(snap, v))]
    return [(row, v) for v in views]


def _entries(
    snap: Snapshot, found: list[tuple[ProjectRow, RunView]], spec: SearchRequest, everything: bool
) -> bytes:
    """One page of ``found`` (sorted here) as ``ProtoLeaderboardEntriesSearchResultDTO``."""
    order = {id(v): i for i, v in enumerate(_sorted(snap, [v for _, v in found], spec))}
    found = sorted(found, key=lambda pair: order[id(pair[1])])
    page = found[spec.pagination.offset : spec.pagination.offset + spec.pagination.limit]
    out = le.ProtoLeaderboardEntriesSearchResultDTO(matching_item_count=len(found))
    for row, view in page:
        workspace, project_name = row.name.split("/", 1)
        entry = out.entries.add(
            experiment_id=experiment_uuid(row.name, view.run),
            type="run",
            project_id=str(row.pk),
            organization_id=workspace,
            project_name=project_name,
            organization_name=workspace,
        )
        if spec.attributeFilters is None and everything:
            paths: Iterable[str] = sorted(view.types)
        else:
            chosen = (f.path for f in spec.attributeFilters or ())
            paths = dict.fromkeys([*ALWAYS_PROJECTED, *chosen])
        for path in paths:
            dto = attribute_dto(snap, view, path)
            if dto is not None:
                entry.attributes.append(dto)
    data: bytes = out.SerializeToString()
    return data


def search(snap: Snapshot, project: str, spec: SearchRequest, query: Query | None) -> bytes:
    """One page of the project's matching runs (no projection list: every attribute)."""
    row = project_or_404(snap, project)
    return _entries(snap, _matching(snap, row, spec, query), spec, everything=True)


def global_search(
    snap: Snapshot, allowed: Callable[[str], bool], spec: SearchRequest, query: Query | None
) -> bytes:
    """One page of matching runs across every project ``allowed`` (sys/id and labels only)."""
    found = [
        pair
        for row in snap.tx.projects()
        if allowed(row.name)
        for pair in _matching(snap, row, spec, query)
    ]
    return _entries(snap, found, spec, everything=False)


def _compile(patterns: Iterable[str] | None, field: str) -> list[UserPattern]:
    """Compiled; a bad or unsupported pattern raises `PatternError` (a 400) naming ``field[i]``."""
    return [compile_pattern(p, f"{field}[{i}]") for i, p in enumerate(patterns or ())]


def name_matcher(
    names: NameFilter | None, regex: str | None = None, exact: list[str] | None = None
) -> Callable[[str], bool]:
    """Whether a name passes the filters (§5.5: any alternative; all must, none must-not).

    Raises `PatternError` (a ValueError) for a pattern that is invalid, unsupported or too long.
    """
    wanted = None if exact is None else set(exact)
    field = "attributeNameFilter"
    alternatives = [
        (
            _compile(a.mustMatchRegexes, f"{field}.mustMatchAny[{i}].mustMatchRegexes"),
            _compile(a.mustNotMatchRegexes, f"{field}.mustMatchAny[{i}].mustNotMatchRegexes"),
        )
        for i, a in enumerate(
            names.mustMatchAny if names is not None and names.mustMatchAny else []
        )
    ]
    must = _compile(
        names.mustMatchRegexes if names is not None else None, f"{field}.mustMatchRegexes"
    )
    never = _compile(
        names.mustNotMatchRegexes if names is not None else None, f"{field}.mustNotMatchRegexes"
    )
    if regex:
        must.append(compile_pattern(regex, "attributeNameRegex"))

    def one(name: str, must: list[UserPattern], never: list[UserPattern]) -> bool:
        return all(p.search(name) for p in must) and not any(p.search(name) for p in never)

    def matches(name: str) -> bool:
        if wanted is not None and name not in wanted:
            return False
        if alternatives and not any(one(name, m, n) for m, n in alternatives):
            return False
        return one(name, must, never)

    return matches


def _type_matcher(types: list[TypeFilter] | None) -> Callable[[str], bool]:
    allowed = {t.attributeType for t in types or ()}
    return lambda kind: not allowed or kind in allowed


def selected_views(snap: Snapshot, project: ProjectRow, ids: list[str] | None) -> list[RunView]:
    """Runs named by ``ws/proj/SYS-ID`` identifiers of this project (None: every run)."""
    if ids is None:
        runs = snap.tx.runs(project.pk)
        return snap.run_views(runs, {r.pk: r for r in runs})
    chosen = []
    for identifier in dict.fromkeys(ids):
        ref: RunRef = parse_run_ref(identifier)
        if ref.project != project.name:
            continue
        run = resolve_run(snap, project, ref)
        if run is not None:
            chosen.append(run)
    return snap.run_views(chosen)


def _page(items: list[Any], page: NextPage | None) -> tuple[list[Any], int, str | None]:
    limit = page.limit if page is not None and page.limit is not None else DEFAULT_PAGE_LIMIT
    token = page.nextPageToken if page is not None else None
    if token and not token.isdigit():
        raise ValueError(f"nextPageToken {token!r} was not issued by this server")
    start = int(token) if token else 0
    chosen = items[start : start + limit]
    more = start + limit < len(items)
    return chosen, limit, str(start + limit) if more else None


def definitions(
    snap: Snapshot, projects: list[str], ids: list[str] | None, match: Callable[[str], bool],
    types: list[TypeFilter] | None, page: NextPage | None,
) -> dict[str, Any]:  # fmt: skip
    """JSON ``{"entries": [{name, type}], "nextPage": {...}}`` over the chosen runs."""
    kind_ok = _type_matcher(types)
    found: set[tuple[str, str]] = set()
    for project in projects:
        row = project_or_404(snap, project)
        for view in selected_views(snap, row, ids):
            found.update((n, k) for n, k in view.types.items() if match(n) and kind_ok(k))
    chosen, limit, token = _page(sorted(found), page)
    next_page: dict[str, Any] = {"limit": limit}
    if token is not None:
        next_page["nextPageToken"] = token
    return {"entries": [{"name": n, "type": k} for n, k in chosen], "nextPage": next_page}


def values(
    snap: Snapshot, project: str, ids: list[str] | None, match: Callable[[str], bool],
    types: list[TypeFilter] | None, page: NextPage | None,
) -> bytes:  # fmt: skip
    """``ProtoQueryAttributesResultDTO``: the matching attributes of the chosen runs."""
    kind_ok = _type_matcher(types)
    row = project_or_404(snap, project)
    pairs = [
        (view, name)
        for view in selected_views(snap, row, ids)
        for name, kind in sorted(view.types.items())
        if match(name) and kind_ok(kind)
    ]
    chosen, limit, token = _page(pairs, page)
    out = at.ProtoQueryAttributesResultDTO()
    out.nextPage.limit = limit
    if token is not None:
        out.nextPage.nextPageToken = token
    entry = None
    for view, name in chosen:
        if entry is None or entry.experimentShortId != view.run.short_id:
            entry = out.entries.add(
                experimentId=experiment_uuid(project, view.run),
                experimentShortId=view.run.short_id,
            )
        dto = attribute_dto(snap, view, name)
        if dto is not None:
            entry.attributes.append(dto)
    data: bytes = out.SerializeToString()
    return data
