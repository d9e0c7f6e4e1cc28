"""Readers over times an older store may hold (it accepted ``Timestamp.seconds = -1e15``): the
point keeps its value with a NaT time, a time-axis chart leaves it out, and nothing answers 500
or raises ``OutOfBoundsDatetime`` (issue 12, item 8).

The bad rows are written straight into the store through its transaction primitives, as an
older version's ingest would have left them, on both engines.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from despina.query import Reader
from despina.store import NewRun, Store, open_store
from despina.ui import create_app
from fastapi.testclient import TestClient
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation

PROJECT = "ws/p"
T0_S = 1_700_000_000
BAD_MS = -(10**18)  # Timestamp.seconds = -1e15, as an older ingest stored it
STEPS = 5


def _metrics(run_id: str) -> RunOperation:
    op = RunOperation(project=PROJECT, run_id=run_id)
    for step in range(STEPS):
        snap = op.update_batch.snapshots.add()
        snap.step.whole = step
        snap.timestamp.seconds = T0_S + step
        snap.append["m"].float64 = step + 0.5
    return op


def _create(run_id: str) -> RunOperation:
    op = RunOperation(project=PROJECT, run_id=run_id)
    op.create.family = run_id
    return op


def _damage_first_time(store: Store, run_id: str) -> None:
    """The first point of ``m`` gets the time an older ingest stored for -1e15 s."""
    with store.engine.write() as tx:
        project = tx.project(PROJECT)
        assert project is not None
        run = tx.run(project.pk, run_id)
        assert run is not None
        state = tx.series(run.pk, ["m"])["m"]
        assert state.pk is not None
        (chunk,) = tx.chunks(state.pk, None, None)
        times = np.frombuffer(chunk.timestamps, dtype=np.int64).copy()
        times[0] = BAD_MS
        tx.put_chunks([dataclasses.replace(chunk, timestamps=times.tobytes())])


def _run_created_at(store: Store, run_id: str, creation_ms: int) -> None:
    with store.engine.write() as tx:
        project = tx.project(PROJECT)
        assert project is not None
        row = NewRun(
            project_pk=project.pk, custom_id=run_id, short_id=f"P-{run_id}", experiment=None,
            creation_ms=creation_ms, family=run_id, parent_pk=None, fork_step=None,
            requested_parent=None, inherit_configs=True, depth=0,
        )  # fmt: skip
        tx.insert_run(row)


@pytest.fixture
def old_store(store_location: str) -> Iterator[str]:
    with open_store(store_location) as store:
        store.apply([_create("good"), _create("old"), _metrics("good"), _metrics("old")])
        _damage_first_time(store, "old")
        _run_created_at(store, "ancient", BAD_MS)
    yield store_location


def test_fetch_metrics_with_absolute_time_shows_nat_for_a_bad_stored_time(old_store: str) -> None:
    with Reader(old_store) as reader:
        frame = reader.fetch_metrics(PROJECT, ["good", "old"], ["m"], include_time="absolute")
    times = frame[("m", "absolute_time")]
    values = frame[("m", "value")]
    assert values.loc["old"].tolist() == [s + 0.5 for s in range(STEPS)]  # no value lost
    assert pd.isna(times.loc[("old", 0.0)])
    expected = pd.to_datetime([(T0_S + s) * 1000 for s in range(1, STEPS)], unit="ms", utc=True)
    assert times.loc["old"].iloc[1:].tolist() == expected.tolist()
    assert not times.loc["good"].isna().any()


def test_a_run_with_a_bad_creation_time_can_be_read(old_store: str) -> None:
    with Reader(old_store) as reader:
        details = reader.run_details(PROJECT, "ancient")
        table = reader.fetch_runs_table(PROJECT, attributes=["sys/creation_time", "m"])
    assert details["creation_time"] is None
    assert table.index.tolist()[-1] == "ancient"  # sorted by creation time, the oldest last


def test_time_axis_chart_leaves_out_a_point_without_a_time(old_store: str) -> None:
    # despina ui answers only the names it listens as (DNS rebinding): not TestClient's default.
    with TestClient(create_app(old_store), base_url="http://127.0.0.1") as client:
        answer = client.get(
            "/ui-api/metric",
            params={"project": PROJECT, "run": ["good", "old"], "attribute": "m", "x": "time"},
        )
        assert answer.status_code == 200, answer.text
        good, old = answer.json()["series"]
        assert good["x"] == [T0_S + s for s in range(STEPS)]
        assert old["x"] == [T0_S + s for s in range(1, STEPS)]
        tail = client.get(
            "/ui-api/metric/tail",
            params={"project": PROJECT, "run": "old", "attribute": "m", "after": -1},
        )
        assert tail.status_code == 200, tail.text
        assert tail.json()["time"][0] is None
        runs = client.get("/ui-api/runs", params={"project": PROJECT})
        assert runs.status_code == 200, runs.text
