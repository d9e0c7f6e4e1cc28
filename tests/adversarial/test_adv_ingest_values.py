"""Bad strings and numbers at ``/ingest``: refused with the protocol's ingest codes, the same on
SQLite and PostgreSQL, never a 500, and nothing else of the request lost.

Issue 12, item 7 (NUL in any string: PostgreSQL text cannot hold it) and item 8 (``Step.whole``
of 2**64-1 stored as -1, ``Step.micro`` of 2**64-1, negative ``Timestamp.nanos``,
``Timestamp.seconds`` of -1e15), on the three decode paths: a uniform float batch (the
vectorized path), any other batch, and a lone ``update``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from despina.query import Reader
from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation
from support.adv_limits_support import Ingest, serve

PROJECT = "ws/p"
T0 = 1_700_000_000
U64_MAX = 2**64 - 1
Code = IngestCode


@pytest.fixture
def ingest(store_location: str) -> Iterator[Ingest]:
    yield from serve(store_location)


def _create(run_id: str = "r", **fields: object) -> bytes:
    op = RunOperation(project=PROJECT, run_id=run_id)
    op.create.family = run_id
    for name, value in fields.items():
        setattr(op.create, name, value)
    return op.SerializeToString()


def _fork(parent_run_id: str, whole: int = 1, micro: int = 0) -> bytes:
    op = RunOperation(project=PROJECT, run_id="child")
    op.create.family = "child"
    op.create.fork_point.parent_run_id = parent_run_id
    op.create.fork_point.step.whole = whole
    op.create.fork_point.step.micro = micro
    return op.SerializeToString()


Snapshot = Callable[[common_pb2.UpdateRunSnapshot], None]


def _metrics(
    bad: Snapshot | None = None, *, run_id: str = "r", lone: bool = False, path: str = "m"
) -> bytes:
    """Float points at steps 1..4 of ``path``; ``bad`` changes snapshot 3 (index 2)."""
    op = RunOperation(project=PROJECT, run_id=run_id)
    snapshots = [common_pb2.UpdateRunSnapshot() for _ in range(1 if lone else 4)]
    for i, snap in enumerate(snapshots):
        snap.step.whole = i + 1
        snap.timestamp.seconds = T0 + i
        snap.append[path].float64 = i + 0.5
        if bad is not None and (lone or i == 2):
            bad(snap)
    if lone:
        op.update.CopyFrom(snapshots[0])
    else:
        op.update_batch.snapshots.extend(snapshots)
    return op.SerializeToString()


def _mixed(bad: Snapshot) -> bytes:
    """A batch the vectorized path does not take (an assign beside the points)."""
    op = RunOperation(project=PROJECT, run_id="r")
    first = op.update_batch.snapshots.add()
    first.assign["config/x"].int64 = 1
    for i in range(3):
        snap = op.update_batch.snapshots.add()
        snap.step.whole = i + 1
        snap.timestamp.seconds = T0 + i
        snap.append["m"].float64 = i + 0.5
        snap.append["text"].string = f"line {i}"
        if i == 1:
            bad(snap)
    return op.SerializeToString()


def _codes(answer: tuple[int, list[tuple[int, str]]]) -> set[int]:
    status, issues = answer
    assert status == 200, status
    return {code for code, _ in issues}


def _points(location: str, path: str = "m", run: str = "r") -> list[tuple[float, float]]:
    with Reader(location) as reader:
        frame = reader.fetch_metrics(PROJECT, [run], [path])
    if frame.empty:
        return []
    return [(float(step), float(v)) for (_, step), v in frame[path].items()]


# -- item 7: NUL -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        _create("r\x00"),
        _create("r", experiment_id="exp\x00"),
        _create("r", family="fam\x00"),
        _fork("par\x00ent"),
    ],
    ids=["run_id", "experiment", "family", "fork-parent"],
)
def test_nul_in_run_creation_is_refused(ingest: Ingest, store_location: str, body: bytes) -> None:
    assert _codes(ingest.post(body)) == {Code.RUN_INVALID_CREATION_PARAMETERS}
    with Reader(store_location) as reader:
        assert reader.list_runs(PROJECT) == []  # the project was created, the run was not


def test_nul_in_run_id_or_project_of_an_update_is_refused(ingest: Ingest) -> None:
    assert _codes(ingest.post(_create("r"))) == set()
    assert _codes(ingest.post(_metrics(run_id="r\x00"))) == {Code.RUN_NOT_FOUND}
    assert _codes(ingest.post(_metrics(run_id="r\x00", lone=True))) == {Code.RUN_NOT_FOUND}
    op = RunOperation.FromString(_metrics())
    op.project = "ws/p\x00"
    ingest.project = "ws/p\x00"
    assert _codes(ingest.post(op.SerializeToString())) == {Code.PROJECT_INVALID_NAME}


def _nul_values(snap: common_pb2.UpdateRunSnapshot) -> None:
    snap.assign["s"].string = "a\x00b"
    snap.assign["set"].string_set.values.extend(["x", "y\x00"])
    snap.assign["file"].file_ref.path = "f\x00"
    snap.assign["path\x00"].int64 = 1
    snap.append["text"].string = "line\x00"
    snap.append["m\x00"].float64 = 1.0
    snap.modify_sets["sys/tags"].string.values["tag\x00"] = common_pb2.ADD


def test_nul_in_paths_and_values_is_refused_and_the_rest_stored(
    ingest: Ingest, store_location: str
) -> None:
    assert _codes(ingest.post(_create("r"))) == set()
    status, issues = ingest.post(_metrics(_nul_values))
    assert status == 200
    assert {code for code, _ in issues} == {Code.FIELD_TYPE_UNSUPPORTED, Code.FIELD_PATH_INVALID}
    assert "NUL" in issues[0][1]
    assert _points(store_location) == [(1.0, 0.5), (2.0, 1.5), (3.0, 2.5), (4.0, 3.5)]
    with Reader(store_location) as reader:
        attributes = set(reader.list_attributes(PROJECT, ["r"]))
    assert not any("\x00" in a for a in attributes)
    assert {"s", "set", "file", "text"}.isdisjoint(attributes)


def test_nul_in_the_path_of_a_uniform_float_batch_is_refused(
    ingest: Ingest, store_location: str
) -> None:
    assert _codes(ingest.post(_create("r"))) == set()
    assert _codes(ingest.post(_metrics(path="m\x00"))) == {Code.FIELD_PATH_INVALID}
    assert _codes(ingest.post(_metrics(path="m\x00", lone=True))) == {Code.FIELD_PATH_INVALID}
    assert _points(store_location) == []


# -- item 8: steps and timestamps ------------------------------------------------------------


def _whole(snap: common_pb2.UpdateRunSnapshot) -> None:
    snap.step.whole = U64_MAX


def _micro(snap: common_pb2.UpdateRunSnapshot) -> None:
    snap.step.micro = U64_MAX


def _micro_million(snap: common_pb2.UpdateRunSnapshot) -> None:
    snap.step.micro = 1_000_000


def _nanos(snap: common_pb2.UpdateRunSnapshot) -> None:
    snap.timestamp.nanos = -5


def _seconds(snap: common_pb2.UpdateRunSnapshot) -> None:
    snap.timestamp.seconds = -(10**15)


def _year_2300(snap: common_pb2.UpdateRunSnapshot) -> None:
    snap.timestamp.seconds = 10_413_792_000  # 2300-01-01


BAD_NUMBERS = [
    pytest.param(_whole, Code.SERIES_STEP_TOO_LARGE, id="whole-2**64-1"),
    pytest.param(_micro, Code.SERIES_STEP_INVALID, id="micro-2**64-1"),
    pytest.param(_micro_million, Code.SERIES_STEP_INVALID, id="micro-10**6"),
    pytest.param(_nanos, Code.DATETIME_VALUE_OUT_OF_RANGE, id="nanos-negative"),
    pytest.param(_seconds, Code.DATETIME_VALUE_OUT_OF_RANGE, id="seconds-minus-1e15"),
    pytest.param(_year_2300, Code.DATETIME_VALUE_OUT_OF_RANGE, id="year-2300"),
]


@pytest.mark.parametrize("bad, code", BAD_NUMBERS)
@pytest.mark.parametrize("path", ["uniform-batch", "lone-update"])
def test_bad_steps_and_times_of_float_points_are_refused(
    ingest: Ingest, store_location: str, bad: Snapshot, code: int, path: str
) -> None:
    assert _codes(ingest.post(_create("r"))) == set()
    lone = path == "lone-update"
    assert _codes(ingest.post(_metrics(bad, lone=lone))) == {code}
    expected = [] if lone else [(1.0, 0.5), (2.0, 1.5), (4.0, 3.5)]
    assert _points(store_location) == expected


@pytest.mark.parametrize("bad, code", BAD_NUMBERS)
def test_bad_steps_and_times_in_a_mixed_batch_are_refused(
    ingest: Ingest, store_location: str, bad: Snapshot, code: int
) -> None:
    assert _codes(ingest.post(_create("r"))) == set()
    status, issues = ingest.post(_mixed(bad))
    assert status == 200
    assert {c for c, _ in issues} == {code}
    assert _points(store_location) == [(1.0, 0.5), (3.0, 2.5)]


@pytest.mark.parametrize(
    "body",
    [
        _fork("r", whole=U64_MAX),
        _fork("r", micro=U64_MAX),
        _fork("r", micro=1_000_000),
    ],
    ids=["whole", "micro", "micro-10**6"],
)
def test_bad_fork_steps_are_refused(ingest: Ingest, body: bytes) -> None:
    assert _codes(ingest.post(_create("r"))) == set()
    status, issues = ingest.post(body)
    assert (status, {c for c, _ in issues}) == (200, {Code.RUN_INVALID_CREATION_PARAMETERS})
    assert "fork_point.step" in issues[0][1]


def test_creation_times_out_of_range_are_refused(ingest: Ingest) -> None:
    op = RunOperation.FromString(_create("r"))
    op.create.creation_time.seconds = -(10**15)
    status, issues = ingest.post(op.SerializeToString())
    assert (status, {c for c, _ in issues}) == (200, {Code.RUN_INVALID_CREATION_PARAMETERS})
    assert "creation_time" in issues[0][1]
