"""Run creation: resume, fork lineage, inherited configs, short ids and experiment heads."""

from __future__ import annotations

import re

from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode
from neptune_scale import wire

from despina.store import _model as m
from despina.store._engine import Tx
from despina.store._issues import Issues
from despina.store._rules import (
    MAX_EXPERIMENT_NAME_BYTES,
    MAX_RUN_ID_BYTES,
    NUL,
    step_problem,
    time_problem,
)

__all__ = ["create_run", "project_key", "step_value"]

_KEY_LENGTH = 4  # letters of the project name in short ids, as in "MYPR-2"


def step_value(step: common_pb2.Step) -> float:
    return wire.step_value(step.whole, step.micro)


def project_key(name: str) -> str:
    """Short-id prefix from the project part of ``workspace/project``."""
    letters = re.sub(r"[^A-Za-z0-9]", "", name.rsplit("/", 1)[-1]).upper()
    return letters[:_KEY_LENGTH] or "RUN"


def _invalid(create: common_pb2.Run, run_id: str) -> str | None:
    size = len(run_id.encode("utf-8"))
    if not run_id:
        return "run_id is empty"
    if size > MAX_RUN_ID_BYTES:
        return f"run_id is {size} bytes long; the limit is {MAX_RUN_ID_BYTES} UTF-8 bytes"
    name = create.experiment_id
    size = len(name.encode("utf-8"))
    if size > MAX_EXPERIMENT_NAME_BYTES:
        return (
            f"experiment name is {size} bytes long; the limit is {MAX_EXPERIMENT_NAME_BYTES} "
            "UTF-8 bytes"
        )
    return _invalid_text(create, run_id) or _invalid_numbers(create)


def _invalid_text(create: common_pb2.Run, run_id: str) -> str | None:
    fork = create.fork_point
    names = {
        "run_id": run_id,
        "experiment name": create.experiment_id,
        "family": create.family,
        "fork_point.parent_project": fork.parent_project,
        "fork_point.parent_run_id": fork.parent_run_id,
    }
    for field, text in names.items():
        if NUL in text:
            return f"{field} {text!r} contains NUL ('\\x00'), which the store cannot keep"
    return None


def _invalid_numbers(create: common_pb2.Run) -> str | None:
    if create.HasField("fork_point"):
        step = create.fork_point.step
        problem = step_problem(step.whole, step.micro, "fork_point.step")
        if problem is not None:
            return problem
    if create.HasField("creation_time"):
        ts = create.creation_time
        return time_problem(ts.seconds, ts.nanos, "creation_time")
    return None


def _fork_of(project: m.ProjectRow, create: common_pb2.Run) -> tuple[str, float] | None:
    if not create.HasField("fork_point"):
        return None
    fork = create.fork_point
    parent_project = fork.parent_project or project.name
    return f"{parent_project}/{fork.parent_run_id}", step_value(fork.step)


def create_run(
    tx: Tx, project: m.ProjectRow, run_id: str, create: common_pb2.Run, now_ms: int, issues: Issues
) -> None:
    problem = _invalid(create, run_id)
    if problem is not None:
        issues.add(IngestCode.RUN_INVALID_CREATION_PARAMETERS, "", problem)
        return
    fork = _fork_of(project, create)
    existing = tx.run(project.pk, run_id)
    if existing is not None:
        _report_existing(tx, existing, fork, run_id, issues)
        return
    parent = _find_parent(tx, project, create, issues)
    creation_ms = now_ms
    if create.HasField("creation_time"):
        ts = create.creation_time
        creation_ms = wire.timestamp_ms(ts.seconds, ts.nanos)
    number = tx.next_run_number(project.pk)
    run = tx.insert_run(
        m.NewRun(
            project_pk=project.pk,
            custom_id=run_id,
            short_id=f"{project.key}-{number}",
            experiment=create.experiment_id or None,
            creation_ms=creation_ms,
            family=create.family or run_id,
            parent_pk=parent.pk if parent else None,
            fork_step=fork[1] if fork else None,
            requested_parent=fork[0] if fork else None,
            inherit_configs=create.inherit_configs if create.HasField("inherit_configs") else True,
            depth=parent.depth + 1 if parent else 0,
        )
    )
    if parent is not None and run.inherit_configs:
        inherited = {
            path: value
            for path, value in tx.attributes(parent.pk).items()
            if not path.startswith("sys/")
        }
        tx.put_attributes(run.pk, inherited)
    if run.experiment is not None:
        _elect_head(tx, project.pk, run.experiment)


def _report_existing(
    tx: Tx, run: m.RunRow, fork: tuple[str, float] | None, run_id: str, issues: Issues
) -> None:
    """A create for an existing run resumes it; different fork parameters are reported too."""
    had = None if run.requested_parent is None else (run.requested_parent, run.fork_step)
    if had != fork:
        issues.add(
            IngestCode.RUN_CONFLICTING,
            "",
            f"run {run_id} exists with fork parameters {had}, not {fork}; kept as it was",
        )
    else:
        issues.add(IngestCode.RUN_DUPLICATE, "", f"run {run_id} exists; resuming it")


def _find_parent(
    tx: Tx, project: m.ProjectRow, create: common_pb2.Run, issues: Issues
) -> m.RunRow | None:
    """The fork parent, looked up only inside the child's project (as in Neptune).

    A parent named in another project gets the answer of a missing one, decided before any
    lookup: whoever may write here must learn nothing about runs elsewhere, and the child must
    not read their points or configs through lineage.
    """
    fork = _fork_of(project, create)
    if fork is None:
        return None
    point = create.fork_point
    inside = (point.parent_project or project.name) == project.name
    parent = tx.run(project.pk, point.parent_run_id) if inside else None
    if parent is None:
        issues.add(
            IngestCode.RUN_FORK_PARENT_NOT_FOUND,
            "",
            f"fork parent {fork[0]} does not exist; the run was created without lineage",
        )
    return parent


def _elect_head(tx: Tx, project_pk: int, experiment: str) -> None:
    """The newest run (by creation time) of an experiment is its head."""
    runs = tx.experiment_runs(project_pk, experiment)
    head = max(runs, key=lambda r: (r.creation_ms, r.pk))
    changed = {r.pk: r.pk == head.pk for r in runs if r.is_head != (r.pk == head.pk)}
    if changed:
        tx.set_heads(changed)
