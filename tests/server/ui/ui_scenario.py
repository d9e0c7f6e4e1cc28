"""The runs the UI tests look at, written as wire operations through ``Store.apply``.

* ``base-1`` (experiment ``exp-a``, tag ``baseline``): ``train/loss`` at steps 0..999 with a spike
  of 50.0 at step 500, ``train/acc``, log lines, a histogram series and a file;
* ``fork-1``: forked from ``base-1`` at step 600, own ``train/loss`` at steps 601..1199;
* ``other-2`` (experiment ``exp-b``, tag ``test``) and ``many-000..`` runs for paging and sorting;
* ``wide-1`` with ``WIDE_METRICS`` short metrics (charts load when scrolled to).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2 as common
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation

PROJECT = "ui-ws/ui-proj"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
SPIKE_STEP = 500
SPIKE_VALUE = 50.0
FORK_STEP = 600
BASE_STEPS = 1000
FORK_LAST_STEP = 1199
MANY_RUNS = 60
FILE_PATH = "base-1/files/notes.txt"
FILE_BYTES = b"hello from base-1\n"
LOG_LINES = 30
WIDE_METRICS = 24
RUN_COUNT = 4 + MANY_RUNS


def loss(step: int) -> float:
    return SPIKE_VALUE if step == SPIKE_STEP else 1.0 / (step + 1)


def stamp(seconds: float) -> Any:
    ts = common.google_dot_protobuf_dot_timestamp__pb2.Timestamp()
    ts.FromDatetime(T0 + dt.timedelta(seconds=seconds))
    return ts


def step_of(value: float) -> common.Step:
    micro = round(value * 1e6)
    return common.Step(whole=micro // 1_000_000, micro=micro % 1_000_000)


def create(
    run_id: str,
    experiment: str | None,
    seconds: float,
    fork: tuple[str, float] | None = None,
    project: str = PROJECT,
) -> RunOperation:
    run = common.Run(family=run_id, creation_time=stamp(seconds), inherit_configs=True)
    if experiment is not None:
        run.experiment_id = experiment
    if fork is not None:
        run.fork_point.CopyFrom(
            common.ForkPoint(parent_project=project, parent_run_id=fork[0], step=step_of(fork[1]))
        )
    return RunOperation(project=project, run_id=run_id, create=run)


def configs(run_id: str, values: dict[str, Any], tags: Iterable[str] = ()) -> RunOperation:
    snapshot = common.UpdateRunSnapshot(timestamp=stamp(1))
    for path, value in values.items():
        target = snapshot.assign[path]
        if isinstance(value, bool):
            target.bool = value
        elif isinstance(value, int):
            target.int64 = value
        elif isinstance(value, float):
            target.float64 = value
        else:
            target.string = value
    for tag in tags:
        snapshot.modify_sets["sys/tags"].string.values[tag] = common.ADD
    return batch(run_id, [snapshot])


def batch(run_id: str, snapshots: Sequence[common.UpdateRunSnapshot]) -> RunOperation:
    return RunOperation(
        project=PROJECT,
        run_id=run_id,
        update_batch=common.UpdateRunSnapshots(snapshots=snapshots),
    )


def metric_snapshots(
    series: dict[str, Any], steps: Iterable[int], seconds_per_step: float = 1.0
) -> list[common.UpdateRunSnapshot]:
    out = []
    for step in steps:
        snapshot = common.UpdateRunSnapshot(
            step=step_of(step), timestamp=stamp(step * seconds_per_step)
        )
        for path, fn in series.items():
            snapshot.append[path].float64 = fn(step)
        out.append(snapshot)
    return out


def apply(store: Any, operations: Sequence[RunOperation]) -> None:
    issues = store.apply(operations)
    problems = [i for i in issues if i]
    assert not problems, f"the store refused scenario data: {problems}"


def write_scenario(folder: Path) -> None:
    from despina.store import open_store

    with open_store(str(folder)) as store:
        write_runs(store)


def write_runs(store: Any) -> None:
    """Every run of the scenario, into an open store of any engine."""
    _write(store)


def _write(store: Any) -> None:
    apply(store, [create("base-1", "exp-a", 0)])
    apply(
        store,
        [
            configs(
                "base-1",
                {"params/lr": 0.01, "params/batch": 64, "params/opt": "adam", "params/epochs": 10},
                ["baseline"],
            )
        ],
    )
    metrics = {"train/loss": loss, "train/acc": lambda s: s / BASE_STEPS}
    apply(store, [batch("base-1", metric_snapshots(metrics, range(BASE_STEPS)))])
    lines = []
    for n in range(LOG_LINES):
        snapshot = common.UpdateRunSnapshot(step=step_of(n), timestamp=stamp(n))
        snapshot.append["runtime/stdout"].string = f"epoch {n} done"
        lines.append(snapshot)
    for n in range(3):
        snapshot = common.UpdateRunSnapshot(step=step_of(n * 100), timestamp=stamp(n))
        histogram = snapshot.append["weights/hist"].histogram
        histogram.bin_edges.extend([0.0, 1.0, 2.0, 3.0])
        histogram.counts.values.extend([n + 1, 5, 2])
        lines.append(snapshot)
    file_snapshot = common.UpdateRunSnapshot(timestamp=stamp(5))
    file_snapshot.assign["artifacts/notes"].file_ref.CopyFrom(
        common.FileRef(path=FILE_PATH, size_bytes=len(FILE_BYTES), mime_type="text/plain")
    )
    lines.append(file_snapshot)
    apply(store, [batch("base-1", lines)])
    store.put_file(PROJECT, FILE_PATH, FILE_BYTES)

    apply(store, [create("fork-1", "exp-a", 10, fork=("base-1", FORK_STEP))])
    apply(
        store,
        [
            configs(
                "fork-1",
                {"params/lr": 0.005, "params/batch": 64, "params/opt": "adam", "params/epochs": 10},
            )
        ],
    )
    own = range(FORK_STEP + 1, FORK_LAST_STEP + 1)
    apply(store, [batch("fork-1", metric_snapshots({"train/loss": lambda s: 0.5 / (s + 1)}, own))])

    apply(store, [create("other-2", "exp-b", 20)])
    apply(
        store,
        [
            configs(
                "other-2",
                {"params/lr": 0.1, "params/batch": 32, "params/opt": "sgd", "params/epochs": 10},
                ["test"],
            )
        ],
    )
    apply(
        store,
        [batch("other-2", metric_snapshots({"train/loss": lambda s: 2.0 / (s + 1)}, range(200)))],
    )

    for n in range(MANY_RUNS):
        run_id = f"many-{n:03d}"
        apply(store, [create(run_id, "exp-many", 100 + n)])
        apply(store, [configs(run_id, {"params/lr": n / 1000, "params/batch": 16})])

    apply(store, [create("wide-1", "exp-wide", 30)])
    wide = {f"wide/m{i:02d}": (lambda s, i=i: i + s / 10) for i in range(WIDE_METRICS)}
    apply(store, [batch("wide-1", metric_snapshots(wide, range(5)))])
