"""``despina.query.Snapshot``, the array-level read path, on both engines (SQLite, PostgreSQL).

The runs: ``base`` logs steps 0..99 (value = step, time = 1 s per step), ``fork`` forks it at
step 50 and logs 51..79 (value = -step), ``solo`` has a string series and no parent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pytest
from despina.query import Buckets, FloatPoints, Reader, Snapshot, readable_ms, snapshot
from despina.store import RunNotFound, Store, open_store
from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2 as common
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation
from support.engines import ENGINE_PARAMS, fresh_location

PROJECT = "team/arrays"
T0_S = 1_767_225_600  # 2026-01-01 UTC


def _create(run_id: str, fork: tuple[str, int] | None = None) -> RunOperation:
    run = common.Run(family=run_id, experiment_id=run_id)
    run.creation_time.seconds = T0_S
    if fork is not None:
        run.fork_point.parent_project = PROJECT
        run.fork_point.parent_run_id = fork[0]
        run.fork_point.step.whole = fork[1]
    return RunOperation(project=PROJECT, run_id=run_id, create=run)


def _update(run_id: str, steps: range, value: float, text: bool = False) -> RunOperation:
    op = RunOperation(project=PROJECT, run_id=run_id)
    for step in steps:
        snap = op.update_batch.snapshots.add()
        snap.step.whole = step
        snap.timestamp.seconds = T0_S + step
        if text:
            snap.append["notes"].string = f"note {step}"
        else:
            snap.append["train/loss"].float64 = value * step
    return op


def write_runs(store: Store) -> None:
    store.apply([_create("base"), _update("base", range(100), 1.0)])
    store.apply([_create("fork", ("base", 50)), _update("fork", range(51, 80), -1.0)])
    store.apply([_create("solo"), _update("solo", range(3), 0.0, text=True)])


@pytest.fixture(scope="module", params=ENGINE_PARAMS)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    folder = tmp_path_factory.mktemp("snapshot")
    with pytest.MonkeyPatch.context() as patch:
        location = fresh_location(request.param, folder, patch)
        with open_store(location) as opened:
            write_runs(opened)
            yield opened


@pytest.fixture
def snap(store: Store) -> Iterator[Snapshot]:
    with snapshot(store) as opened:
        yield opened


def test_float_points_follow_the_lineage_as_numpy_columns(snap: Snapshot) -> None:
    fork = snap.run(PROJECT, "fork")
    points = snap.float_points(fork, "train/loss")
    assert isinstance(points, FloatPoints) and points.steps.dtype == np.float64
    assert points.steps.tolist() == [*range(51), *range(51, 80)]
    assert points.values.tolist() == [*range(51), *(-s for s in range(51, 80))]
    assert points.timestamps.tolist() == [(T0_S + s) * 1000 for s in range(80)]
    own = snap.float_points(fork, "train/loss", 40, 60, lineage=False)
    assert own.steps.tolist() == list(range(51, 61))
    assert snap.float_points(fork, "train/loss", 48, 52).tail(2).steps.tolist() == [51, 52]


def test_fork_step_and_extent_come_from_one_lineage_read(snap: Snapshot) -> None:
    fork, base = snap.run(PROJECT, "fork"), snap.run(PROJECT, "base")
    assert snap.fork_step(fork) == 50 and snap.fork_step(base) is None
    assert [s.run.custom_id for s in snap.lineage(fork)] == ["fork", "base"]
    assert snap.lineage(fork) is snap.lineage(fork)  # read once per snapshot
    assert snap.extent(fork, "train/loss") == (0, 79)
    assert snap.extent(fork, "no/such") is None
    assert [c.custom_id for c in snap.children(base)] == ["fork"]
    assert snap.series_kind(fork, "train/loss") == "floatSeries"


def test_buckets_match_the_readers_dataframe(store: Store, snap: Snapshot) -> None:
    fork = snap.run(PROJECT, "fork")
    table = snap.buckets(fork, "train/loss", None, None, 4)
    assert isinstance(table, Buckets)
    assert table.count.tolist() == [20, 20, 20, 20] and table.to_step[-1] == 79
    with Reader(store) as reader:
        frame = reader.fetch_metric_buckets(PROJECT, ["fork"], ["train/loss"], limit=4)
    assert frame["count"].tolist() == table.count.tolist()
    assert frame["last_value"].tolist() == table.last_value.tolist()
    assert frame["min"].tolist() == table.vmin.tolist()
    assert snap.buckets(fork, "no/such", None, None, 4) is None
    with pytest.raises(ValueError, match="count must be at least 1"):
        snap.buckets(fork, "train/loss", 0, 10, 0)


def test_reader_frames_hold_the_snapshots_arrays(store: Store, snap: Snapshot) -> None:
    with Reader(store) as reader:
        frame = reader.fetch_metrics(PROJECT, ["fork"], ["train/loss"], include_time="absolute")
        series = reader.fetch_series(PROJECT, ["solo"], ["notes"], tail_limit=2)
    points = snap.float_points(snap.run(PROJECT, "fork"), "train/loss")
    assert frame[("train/loss", "value")].tolist() == points.values.tolist()
    times = frame[("train/loss", "absolute_time")].tolist()
    assert times[0] == dt.datetime.fromtimestamp(T0_S, dt.timezone.utc)
    notes = snap.object_points(snap.run(PROJECT, "solo"), "notes").tail(2)
    assert series["notes"].tolist() == notes.values == ["note 1", "note 2"]
    every = snap.object_points(snap.run(PROJECT, "solo"), "notes")
    assert every.tail(4).values == ["note 0", "note 1", "note 2"] and not every.tail(0).values
    fork_points = snap.float_points(snap.run(PROJECT, "fork"), "train/loss")
    assert len(fork_points.tail(1000)) == 80 and len(fork_points.tail(0)) == 0


def test_unknown_runs_raise_and_unreadable_times_are_nan(snap: Snapshot) -> None:
    with pytest.raises(RunNotFound, match="no-such"):
        snap.run(PROJECT, "no-such")
    far = np.iinfo(np.int64).max // 1000  # far beyond year 2262: no datetime64[ns] holds it
    shown = readable_ms([0, 1_000, far])
    assert shown[:2].tolist() == [0.0, 1000.0] and np.isnan(shown[2])
