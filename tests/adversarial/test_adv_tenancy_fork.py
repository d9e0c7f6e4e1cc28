"""Issue 12.1 in the store, on every engine: a fork parent in another project is refused as a
missing one (same issues, same stored row), and no reader follows a parent link out of a
run's project, not even one that older versions stored."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode
from support.adv_tenancy_world import (
    CONFIG,
    FORK_STEP,
    GHOST,
    METRIC,
    MISSING,
    OUR_VALUE,
    OURS,
    SECRET,
    SECRET_VALUE,
    SHARED,
    STEPS,
    THEIRS,
    VICTIM_ONLY,
    apply,
    create,
    data,
    leaks,
    link_parent_as_older_versions_did,
    write_tenants,
)


@pytest.fixture
def store(store_location: str) -> Iterator[Any]:
    from despina.store import open_store

    with open_store(store_location) as opened:
        write_tenants(opened)
        yield opened


def _row(store: Any, project: str, run_id: str) -> dict[str, Any]:
    """The stored run without what differs between two creates anyway (keys, ids, times)."""
    with store.engine.read() as tx:
        row = tx.run(tx.project(project).pk, run_id)
    fields = dataclasses.asdict(row)
    for volatile in ("pk", "short_id", "custom_id", "family", "creation_ms", "modification_ms"):
        fields.pop(volatile)
    return fields


def _fork(store: Any, child: str, parent: tuple[str, str]) -> tuple[Any, ...]:
    (issues,) = apply(store, [create(OURS, child, parent)])
    return tuple((i.code, i.path, i.message) for i in issues)


def test_a_parent_in_another_project_answers_as_a_missing_one(store: Any) -> None:
    cases = {
        "existing run, other workspace": (THEIRS, SHARED),
        "existing run only there": (THEIRS, VICTIM_ONLY),
        "missing run, existing project": (THEIRS, GHOST),
        "missing project": (MISSING, SHARED),
    }
    answers = {
        name: _fork(store, f"child-{i}", parent) for i, (name, parent) in enumerate(cases.items())
    }
    for name, parent in cases.items():
        requested = "/".join(parent)
        neutral = tuple((c, p, m.replace(requested, "<parent>")) for c, p, m in answers[name])
        assert neutral == (
            (
                IngestCode.RUN_FORK_PARENT_NOT_FOUND,
                "",
                "fork parent <parent> does not exist; the run was created without lineage",
            ),
        ), name
    rows = [_row(store, OURS, f"child-{i}") for i in range(len(cases))]
    for row, parent in zip(rows, cases.values(), strict=True):
        assert row.pop("requested_parent") == "/".join(parent)
    assert all(row == rows[-1] for row in rows)
    assert rows[-1]["parent_pk"] is None and rows[-1]["depth"] == 0


def test_a_parent_in_the_same_project_still_forks(store: Any) -> None:
    assert _fork(store, "own-child", (OURS, SHARED)) == ()
    assert _fork(store, "implicit-child", ("", SHARED)) == ()  # parent_project omitted
    from despina.query import Reader

    details = Reader(store).run_details(OURS, "own-child")
    assert details["lineage"]["parent"] == SHARED
    assert details["configs"][CONFIG] == "ours"


def _everything_a_reader_shows(store: Any, run_id: str) -> str:
    from despina.query import Reader

    reader = Reader(store)
    shown = [
        reader.run_details(OURS, run_id),
        reader.fetch_runs_table(OURS, None, None).to_dict(),
        reader.fetch_metrics(OURS, [run_id], [METRIC]).to_dict(),
        reader.fetch_metric_buckets(OURS, [run_id], [METRIC], limit=5).to_dict(),
        reader.fetch_series(OURS, [run_id], ["runtime/stdout"]).to_dict(),
        reader.list_attributes(OURS),
    ]
    return repr(shown)


def test_a_fork_of_a_foreign_run_inherits_nothing(store: Any) -> None:
    apply(store, [create(OURS, "thief", (THEIRS, SHARED))])
    shown = _everything_a_reader_shows(store, "thief")
    assert leaks(shown) == []
    assert "thief" not in repr(_victim_details(store))


def _victim_details(store: Any) -> dict[str, Any]:
    from despina.query import Reader

    return Reader(store).run_details(THEIRS, SHARED)  # type: ignore[no-any-return]


def test_a_parent_link_stored_by_an_older_version_is_not_followed(
    store: Any, store_location: str
) -> None:
    """Older versions linked a fork to a parent in any project: reads stop at the project."""
    apply(store, [create(OURS, "old-thief")])
    apply(store, [data(OURS, "old-thief", "thief", OUR_VALUE, range(FORK_STEP + 1, STEPS))])
    apply(store, [create(OURS, "grandchild", (OURS, "old-thief"), step=STEPS - 1)])
    link_parent_as_older_versions_did(store_location, (OURS, "old-thief"), SHARED)
    for run_id in ("old-thief", "grandchild"):
        shown = _everything_a_reader_shows(store, run_id)
        assert leaks(shown) == [], run_id
    from despina.query import Reader

    reader = Reader(store)
    details = reader.run_details(OURS, "old-thief")
    assert details["lineage"]["parent"] is None and details["lineage"]["ancestors"] == []
    assert details["lineage"]["depth"] == 0 and details["lineage"]["fork_step"] is None
    assert reader.run_details(OURS, "grandchild")["lineage"]["ancestors"] == ["old-thief"]
    metrics = reader.fetch_metrics(OURS, ["grandchild"], [METRIC])
    assert set(metrics[METRIC].dropna()) == {OUR_VALUE}  # own and same-project lineage only
    assert "old-thief" not in repr(reader.run_details(THEIRS, SHARED)["lineage"])
    # the victim's run still reads whole
    assert reader.run_details(THEIRS, SHARED)["configs"][CONFIG] == SECRET
    assert set(reader.fetch_metrics(THEIRS, [SHARED], [METRIC])[METRIC]) == {SECRET_VALUE}
