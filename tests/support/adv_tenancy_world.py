"""Two tenants in one store, for the cross-tenant tests: what the victim holds and how to find it.

``OURS`` (``team-a/alpha``) is the attacker's project; ``THEIRS`` (``team-b/gamma``, another
workspace) is the victim's, and ``MISSING`` a project that does not exist. Every run of the
victim carries ``SECRET`` in a config, a tag, a log line, a file and the value ``SECRET_VALUE``
of a metric, so an answer that holds any of it is a leak. The victim's runs are ``shared`` (a
run id the attacker also has) and ``victim-only``.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2 as common
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation

# Names of equal length in each pair, so that two answers can be compared byte for byte.
OURS, THEIRS, MISSING = "team-a/alpha", "team-b/gamma", "team-b/delta"
SHARED, VICTIM_ONLY, GHOST = "shared", "victim-only", "ghost-run-1"
SECRET = "s3cret-of-team-b"
SECRET_VALUE = 987654.25
OUR_VALUE = 1.5
METRIC, LOG, CONFIG = "train/loss", "runtime/stdout", "params/api_secret"
FILE_PATH = "files/secret.txt"
STEPS = 20
FORK_STEP = 10
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def stamp(seconds: float) -> Any:
    ts = common.google_dot_protobuf_dot_timestamp__pb2.Timestamp()
    ts.FromDatetime(T0 + dt.timedelta(seconds=seconds))
    return ts


def create(
    project: str, run_id: str, parent: tuple[str, str] | None = None, step: int = FORK_STEP
) -> RunOperation:
    """A run ``create``; ``parent`` = (parent_project, parent_run_id) makes it a fork."""
    run = common.Run(family=run_id, creation_time=stamp(0), inherit_configs=True)
    if parent is not None:
        run.fork_point.CopyFrom(
            common.ForkPoint(
                parent_project=parent[0], parent_run_id=parent[1], step=common.Step(whole=step)
            )
        )
    return RunOperation(project=project, run_id=run_id, create=run)


def data(project: str, run_id: str, text: str, value: float, steps: range) -> RunOperation:
    """A config, a tag, a file reference, a log line and ``METRIC`` = value at ``steps``."""
    first = common.UpdateRunSnapshot(timestamp=stamp(1))
    first.assign[CONFIG].string = text
    first.modify_sets["sys/tags"].string.values[text] = common.ADD
    first.assign["artifacts/file"].file_ref.CopyFrom(
        common.FileRef(path=FILE_PATH, size_bytes=len(text), mime_type="text/plain")
    )
    snapshots = [first]
    for step in steps:
        point = common.UpdateRunSnapshot(step=common.Step(whole=step), timestamp=stamp(2 + step))
        point.append[METRIC].float64 = value
        point.append[LOG].string = text
        snapshots.append(point)
    return RunOperation(
        project=project, run_id=run_id, update_batch=common.UpdateRunSnapshots(snapshots=snapshots)
    )


def apply(store: Any, operations: Sequence[RunOperation]) -> list[tuple[Any, ...]]:
    return [tuple(issues) for issues in store.apply(list(operations))]


def write_tenants(store: Any) -> None:
    """The victim's two runs (with SECRET everywhere) and the attacker's ``shared`` run."""
    for run_id in (SHARED, VICTIM_ONLY):
        assert apply(store, [create(THEIRS, run_id)]) == [()]
        assert apply(store, [data(THEIRS, run_id, SECRET, SECRET_VALUE, range(STEPS))]) == [()]
    store.put_file(THEIRS, FILE_PATH, SECRET.encode())
    assert apply(store, [create(OURS, SHARED)]) == [()]
    assert apply(store, [data(OURS, SHARED, "ours", OUR_VALUE, range(STEPS))]) == [()]
    store.put_file(OURS, FILE_PATH, b"ours")


def leaks(text: str | bytes) -> list[str]:
    """What of the victim's data ``text`` holds (empty: nothing)."""
    body = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    found = [s for s in (SECRET, VICTIM_ONLY, repr(SECRET_VALUE)) if s in body]
    if isinstance(text, bytes) and _double(SECRET_VALUE) in text:
        found.append("the secret metric value as a protobuf double")
    return found


def _double(value: float) -> bytes:
    import struct

    return struct.pack("<d", value)


def link_parent_as_older_versions_did(location: str, child: tuple[str, str], parent: str) -> None:
    """Point ``child`` (project, run id) at the victim's run ``parent`` by writing the row
    directly, as versions that took a fork parent from any project stored it."""
    statement = (
        "UPDATE {runs} SET parent_pk = (SELECT r.pk FROM {runs} r JOIN {projects} p "
        "ON r.project_pk = p.pk WHERE p.name = %s AND r.custom_id = %s), fork_step = %s, "
        "depth = 1 WHERE custom_id = %s AND project_pk = (SELECT pk FROM {projects} "
        "WHERE name = %s)"
    )
    params = (THEIRS, parent, float(FORK_STEP), child[1], child[0])
    if location.startswith("postgresql://"):
        import psycopg

        sql = statement.format(runs="despina_runs", projects="despina_projects")
        with psycopg.connect(location, autocommit=True) as conn:
            assert conn.execute(sql, params).rowcount == 1
        return
    sql = statement.replace("%s", "?").format(runs="runs", projects="projects")
    with sqlite3.connect(Path(location) / "despina.sqlite3") as conn:
        assert conn.execute(sql, params).rowcount == 1
