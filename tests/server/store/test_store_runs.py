"""Conformance: projects, run creation, resume, forks, lineage, heads (protocol §7.2, §8.2)."""

from __future__ import annotations

import pytest
from despina.query import Reader
from despina.store import Store, ancestry, decode_value, open_store, sys_attributes
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode as C
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2
from support.opbuild import PROJECT, Snap, codes, create, float_points, metrics, update


def run_row(store: Store, run_id: str, project: str = PROJECT):  # type: ignore[no-untyped-def]
    with store.engine.read() as tx:
        proj = tx.project(project)
        assert proj is not None
        return tx.run(proj.pk, run_id)


def test_create_assigns_short_ids_and_project_on_first_use(store: Store) -> None:
    assert store.apply([create("a", experiment="e"), create("b")]) == [(), ()]
    a, b = run_row(store, "a"), run_row(store, "b")
    assert (a.short_id, b.short_id) == ("PROJ-1", "PROJ-2")
    assert a.experiment == "e" and b.experiment is None
    with store.engine.read() as tx:
        assert [p.name for p in tx.projects()] == [PROJECT]


def test_duplicate_create_resumes_the_run(store: Store) -> None:
    store.apply([create("a"), metrics("a", {"loss": [3.0, 2.0]})])
    (issues,) = store.apply([create("a")])
    assert codes(issues) == {C.RUN_DUPLICATE: 1}
    assert store.apply([metrics("a", {"loss": [1.0]}, start=2)]) == [()]
    assert float_points(store, "a", "loss").tolist() == [[0, 3.0], [1, 2.0], [2, 1.0]]


def test_create_with_other_fork_parameters_is_conflicting(store: Store) -> None:
    store.apply([create("p"), create("c", fork="p", fork_step=5)])
    (issues,) = store.apply([create("c", fork="p", fork_step=7)])
    assert codes(issues) == {C.RUN_CONFLICTING: 1}
    assert run_row(store, "c").fork_step == 5


def test_unknown_fork_parent_creates_run_without_lineage(store: Store) -> None:
    (issues,) = store.apply([create("c", fork="ghost", fork_step=3)])
    assert codes(issues) == {C.RUN_FORK_PARENT_NOT_FOUND: 1}
    row = run_row(store, "c")
    assert row.parent_pk is None and row.requested_parent == f"{PROJECT}/ghost"
    assert store.apply([metrics("c", {"x": [1.0]}, start=0)]) == [()]


def test_update_of_unknown_run_is_run_not_found(store: Store) -> None:
    (issues,) = store.apply([metrics("nobody", {"x": [1.0]})])
    assert codes(issues) == {C.RUN_NOT_FOUND: 1}


@pytest.mark.parametrize("project", ["", "noslash", "a/b/c", "/x", "ws/..", "w/" + "p" * 600])
def test_invalid_project_name(store: Store, project: str) -> None:
    (issues,) = store.apply([create("a", project=project)])
    assert codes(issues) == {C.PROJECT_INVALID_NAME: 1}


def test_unknown_project_without_auto_create(store_location: str) -> None:
    with open_store(store_location) as store:
        store.create_projects = False
        (issues,) = store.apply([create("a")])
        assert codes(issues) == {C.PROJECT_NOT_FOUND: 1}
        with store.engine.read() as tx:
            assert tx.projects() == []


def test_invalid_creation_parameters(store: Store) -> None:
    long_name = "e" * 731
    result = store.apply([create("a", experiment=long_name), create("")])
    assert [codes(r) for r in result] == [{C.RUN_INVALID_CREATION_PARAMETERS: 1}] * 2
    assert run_row(store, "a") is None


def test_experiment_head_is_newest_run(store: Store) -> None:
    store.apply(
        [create("old", experiment="e", created=100), create("new", experiment="e", created=200)]
    )
    assert not run_row(store, "old").is_head and run_row(store, "new").is_head
    store.apply([create("late-sync", experiment="e", created=150)])  # older than the head
    assert run_row(store, "new").is_head and not run_row(store, "late-sync").is_head


def test_three_level_lineage_and_inherited_configs(store: Store) -> None:
    configs = update("root", Snap(assign={"params/lr": 0.1, "params/name": "r"}))
    store.apply([create("root"), configs, metrics("root", {"loss": range(10)})])
    store.apply(
        [
            create("child", fork="root", fork_step=6),
            metrics("child", {"loss": [60.0, 70.0]}, start=7),
        ]
    )
    store.apply([create("grand", fork="child", fork_step=7, inherit=False)])
    (issues,) = store.apply([metrics("grand", {"loss": [80.0]}, start=7)])
    assert codes(issues) == {C.SERIES_STEP_NOT_AFTER_FORK_POINT: 1}
    assert store.apply([metrics("grand", {"loss": [80.0]}, start=8)]) == [()]
    with store.engine.read() as tx:
        child, grand = run_row(store, "child"), run_row(store, "grand")
        assert decode_value(tx.attributes(child.pk)["params/lr"][1]) == 0.1
        assert "params/lr" not in tx.attributes(grand.pk)
        chain = [(s.run.custom_id, s.up_to) for s in ancestry(tx, grand)]
    assert chain == [("grand", float("inf")), ("child", 7.0), ("root", 6.0)]
    assert grand.depth == 2


def test_several_operations_in_one_call_are_applied_in_order(store: Store) -> None:
    ops = [
        create("a"),
        update("a", Snap(step=1, append={"x": 1.0})),
        update("a", Snap(step=2, append={"x": 2.0})),
    ]
    assert store.apply(ops) == [(), (), ()]
    assert float_points(store, "a", "x")[:, 1].tolist() == [1.0, 2.0]


def test_lone_update_is_accepted(store: Store) -> None:
    store.apply([create("a")])
    op = ingest_pb2.RunOperation(project=PROJECT, run_id="a")
    op.update.step.whole = 3
    op.update.timestamp.seconds = 1
    op.update.append["x"].float64 = 0.5
    assert store.apply([op]) == [()]
    assert float_points(store, "a", "x").tolist() == [[3.0, 0.5]]


def test_empty_operation_is_reported(store: Store) -> None:
    (issues,) = store.apply([ingest_pb2.RunOperation(project=PROJECT, run_id="a")])
    assert codes(issues) == {C.FIELD_TYPE_UNSUPPORTED: 1}


def test_fork_step_reads_as_the_int_protocol_5_3_gives(store: Store) -> None:
    store.apply([create("root"), metrics("root", {"loss": range(10)})])
    store.apply(
        [create("whole", fork="root", fork_step=6), create("half", fork="root", fork_step=2.5)]
    )
    root = run_row(store, "root")
    assert sys_attributes(run_row(store, "whole"), root, PROJECT)["sys/forking/step"] == ("int", 6)
    # A fractional fork step: the int is its whole part (one type for every run, as
    # neptune-query needs); the run keeps the exact step for lineage and run_details.
    half = run_row(store, "half")
    assert sys_attributes(half, root, PROJECT)["sys/forking/step"] == ("int", 2)
    assert half.fork_step == 2.5
    assert "sys/forking/step" not in sys_attributes(root, None, PROJECT)
    with Reader(store) as reader:
        assert reader.attribute_types(PROJECT, ["whole"], "^sys/forking/") == {
            "sys/forking/depth": "int",
            "sys/forking/parent": "string",
            "sys/forking/requested_parent": "string",
            "sys/forking/step": "int",
        }
        table = reader.fetch_runs_table(PROJECT, ["whole", "half"], ["sys/forking/step"])
        assert reader.run_details(PROJECT, "half")["lineage"]["fork_step"] == 2.5
    column = table["sys/forking/step"]
    assert column.to_dict() == {"whole": 6, "half": 2} and column.dtype.kind == "i"
