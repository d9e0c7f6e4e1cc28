"""The one read path under stress: a chart of the most runs it allows, each a fork of the one
before (19 ancestors deep), on both engines; unknown runs; tails longer than the series.

A chart reads all its runs in one snapshot (one read transaction beyond the access check),
each fork step from the lineage its points come through, and draws what the Reader returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from despina.query import Reader
from despina.store import Store, open_store
from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2 as common
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation
from support.engines import ENGINE_PARAMS, fresh_location

PROJECT = "adv/chain"
RUNS = 20  # the UI's MAX_RUNS_PER_CHART
STEPS_PER_RUN = 10
METRIC = "loss"
LOCAL_UI = "http://127.0.0.1"


def _run_id(n: int) -> str:
    return f"r{n:02d}"


def _fork_step(n: int) -> int:
    return n * STEPS_PER_RUN - 1  # the last step of the run before: each run adds 10 steps


def _operations(n: int) -> list[RunOperation]:
    create = RunOperation(project=PROJECT, run_id=_run_id(n))
    create.create.family = _run_id(n)
    if n:
        create.create.fork_point.parent_project = PROJECT
        create.create.fork_point.parent_run_id = _run_id(n - 1)
        create.create.fork_point.step.whole = _fork_step(n)
    update = RunOperation(project=PROJECT, run_id=_run_id(n))
    for step in range(n * STEPS_PER_RUN, (n + 1) * STEPS_PER_RUN):
        snap = update.update_batch.snapshots.add()
        snap.step.whole = step
        snap.timestamp.seconds = 1_767_225_600 + step
        snap.append[METRIC].float64 = step * 0.5 + n
    if n:
        return [create, update]
    notes = RunOperation(project=PROJECT, run_id=_run_id(n))  # the root's, inherited by all
    for step in range(3):
        snap = notes.update_batch.snapshots.add(step=common.Step(whole=step))
        snap.timestamp.seconds = 1_767_225_600
        snap.append["notes"].string = f"{_run_id(n)} {step}"
    return [create, update, notes]


@pytest.fixture(scope="module", params=ENGINE_PARAMS)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    tmp = tmp_path_factory.mktemp("adv-read")
    with pytest.MonkeyPatch.context() as patch:
        location = fresh_location(request.param, Path(tmp), patch)
        with open_store(location) as opened:
            for n in range(RUNS):
                issues = opened.apply(_operations(n))
                assert not any(issues), issues
            yield opened


@pytest.fixture
def client(store: Store) -> Any:
    from despina.ui import create_app
    from fastapi.testclient import TestClient

    return TestClient(create_app(store), base_url=LOCAL_UI)


def _count_reads(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    count, original = [0], store.engine.read

    def read() -> Any:
        count[0] += 1
        return original()

    monkeypatch.setattr(store.engine, "read", read)
    return count


def test_a_chart_of_twenty_chained_forks_is_one_snapshot(
    store: Store, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = [_run_id(n) for n in range(RUNS)]
    reads = _count_reads(store, monkeypatch)
    assert client.get("/ui-api/projects").status_code == 200
    reads[0] = 0
    assert client.get("/ui-api/projects").status_code == 200
    access = reads[0]
    reads[0] = 0
    answer = client.get(
        "/ui-api/metric", params={"project": PROJECT, "run": runs, "attribute": METRIC}
    )
    assert answer.status_code == 200 and reads[0] == access + 1
    series = answer.json()["series"]
    assert [s["fork_step"] for s in series] == [None, *(_fork_step(n) for n in range(1, RUNS))]
    with Reader(store) as reader:
        frame = reader.fetch_metrics(PROJECT, [runs[-1]], [METRIC])
    last = series[-1]
    assert last["aggregated"] is False and last["y"] == frame[METRIC].tolist()
    assert last["inherited"] == (RUNS - 1) * STEPS_PER_RUN  # every ancestor's points, then its own


def test_an_unknown_run_in_a_chart_is_a_404_naming_it(client: Any) -> None:
    answer = client.get(
        "/ui-api/metric", params={"project": PROJECT, "run": ["r00", "ghost"], "attribute": METRIC}
    )
    assert answer.status_code == 404 and "ghost" in answer.text
    assert client.get(
        "/ui-api/metric/tail", params={"project": PROJECT, "run": "ghost", "attribute": METRIC,
                                       "after": 0}
    ).json() == {"step": [], "value": [], "time": [], "truncated": False}  # fmt: skip


def test_a_tail_longer_than_the_series_gives_all_of_it(client: Any) -> None:
    params = {"project": PROJECT, "run": "r19", "attribute": "notes", "limit": 4, "tail": True}
    page = client.get("/ui-api/series", params=params).json()
    assert [p["value"] for p in page["points"]] == ["r00 0", "r00 1", "r00 2"]  # inherited
    assert page["more"] is False
    assert page["points"][0]["time"] == "2026-01-01T00:00:00+00:00"
    wrong_kind = client.get("/ui-api/series", params={**params, "attribute": METRIC}).json()
    assert wrong_kind == {"points": [], "more": False}  # a float series has no text page
