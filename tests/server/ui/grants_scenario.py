"""Three projects for the UI's access tests, each with a run of the same id (``shared``).

``team-a/alpha`` and ``team-a/beta`` share a workspace, ``team-b/gamma`` is in another. Every
run carries its project's name in a config, a metric, a log line and a file, so a test can see
whose data an answer holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2 as common
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation
from ui_scenario import apply, create, metric_snapshots, stamp, step_of

ALPHA, BETA, GAMMA = "team-a/alpha", "team-a/beta", "team-b/gamma"
PROJECTS = (ALPHA, BETA, GAMMA)
RUN = "shared"
METRIC = "train/loss"
LOG = "runtime/stdout"
FILE_PATH = "shared/files/owner.txt"
STEPS = 50


def marker(project: str) -> str:
    """The text only ``project``'s data holds."""
    return f"owner-{project.replace('/', '-')}"


def metric_value(project: str) -> float:
    return float(PROJECTS.index(project) + 1)


def write_grants_scenario(folder: Path) -> None:
    from despina.store import open_store

    with open_store(str(folder)) as store:
        for project in PROJECTS:
            _write_project(store, project)


def _write_project(store: Any, project: str) -> None:
    apply(store, [create(RUN, "exp", 0, project=project)])
    snapshot = common.UpdateRunSnapshot(timestamp=stamp(1))
    snapshot.assign["params/owner"].string = marker(project)
    snapshot.modify_sets["sys/tags"].string.values[marker(project)] = common.ADD
    snapshot.assign["artifacts/owner"].file_ref.CopyFrom(
        common.FileRef(path=FILE_PATH, size_bytes=len(marker(project)), mime_type="text/plain")
    )
    line = common.UpdateRunSnapshot(step=step_of(0), timestamp=stamp(2))
    line.append[LOG].string = marker(project)
    value = metric_value(project)
    points = metric_snapshots({METRIC: lambda _: value}, range(STEPS))
    operation = RunOperation(
        project=project,
        run_id=RUN,
        update_batch=common.UpdateRunSnapshots(snapshots=[snapshot, line, *points]),
    )
    apply(store, [operation])
    store.put_file(project, FILE_PATH, marker(project).encode())
