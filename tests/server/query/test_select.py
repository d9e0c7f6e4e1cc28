"""Choosing runs: the batched views and direct id lookups give what the per-run path gives."""

from __future__ import annotations

import pytest
from despina.query import Reader, _select
from despina.query._select import project_row, select_run_ids, select_runs
from despina.query._values import run_view, run_views


def _project(reader: Reader) -> str:
    return reader.list_projects()[0]


def test_batched_views_equal_one_run_at_a_time(reader: Reader) -> None:
    with reader.store.engine.read() as tx:
        rows = tx.runs(project_row(tx, _project(reader)).pk)
        assert any(r.parent_pk is not None for r in rows)  # forks: inherited series covered
        one_by_one = [run_view(tx, r) for r in rows]
        batched = run_views(tx, rows, {})  # parents found by query, not from ``known``
        known = run_views(tx, rows, {r.pk: r for r in rows})
    assert batched == one_by_one
    assert known == one_by_one


@pytest.mark.parametrize("direct_max", [0, 200])  # project-wide match, then direct lookups
def test_listed_ids_pick_the_same_runs_either_way(
    reader: Reader, monkeypatch: pytest.MonkeyPatch, direct_max: int
) -> None:
    monkeypatch.setattr(_select, "_DIRECT_LOOKUP_MAX", direct_max)
    with reader.store.engine.read() as tx:
        project = project_row(tx, _project(reader))
        grand = tx.run(project.pk, "grand")
        assert grand is not None
        wanted = ["other", "nope", grand.short_id, "base", "other"]
        views = select_runs(tx, project, wanted)
        heads = select_run_ids(tx, project, wanted, heads_only=True)
        every = {r.pk: r.is_head for r in tx.runs(project.pk)}
    # listed order, unknown skipped, duplicates once, short ids accepted
    assert [v.run.custom_id for v in views] == ["other", "grand", "base"]
    assert views[1].values["sys/forking/parent"] == "fork"
    assert heads == [v.run.custom_id for v in views if every[v.run.pk]]


def test_wanted_limits_values_not_types(reader: Reader) -> None:
    with reader.store.engine.read() as tx:
        rows = tx.runs(project_row(tx, _project(reader)).pk)
        full = run_views(tx, rows, {})
        some = run_views(tx, rows, {}, lambda path: path in {"train/loss", "sys/id"})
    for whole, part in zip(full, some, strict=True):
        assert part.types == whole.types and part.series == whole.series
        assert part.values == {p: whole.values[p] for p in ("train/loss", "sys/id")}
