"""What an export holds, before anything is written: runs, their identity, forks, counts.

For each complete run (``_layout``) the ``sys/`` rows give its project, run id, experiment
name, creation time, family and fork point; the ``attribute_type`` column gives counts by type.
Runs are then ordered so a fork parent is imported before its children (Kahn's algorithm per
target project); a child whose parent is not in the export becomes a root whose requested
parent the store records (``sys/forking/requested_parent``), and the summary names it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from despina.importer._encode import MICROS
from despina.importer._layout import RunFiles
from despina.importer._read import SYS_PREFIX

__all__ = ["FILE_TYPES", "SERIES_TYPES", "RunPlan", "order_runs", "plan_run"]

SERIES_TYPES = frozenset({"float_series", "string_series", "histogram_series", "file_series"})
FILE_TYPES = frozenset({"file", "file_series", "file_set", "artifact"})
_MS_PER_S = 1000


@dataclass
class RunPlan:
    """One exported run as it will be imported."""

    files: RunFiles
    project: str = ""  # as exported
    run_id: str = ""
    target_project: str = ""  # after --project-map
    experiment: str | None = None
    creation_ms: int | None = None
    family: str | None = None
    parent: str | None = None
    fork_step_micro: int | None = None
    counts: Counter[str] = field(default_factory=Counter)
    orphan: bool = False  # forked from a run that is not in the export
    problem: str | None = None  # why it cannot be imported

    @property
    def key(self) -> str:
        return f"{self.target_project}/{self.run_id}"

    @property
    def points(self) -> int:
        return sum(n for kind, n in self.counts.items() if kind in SERIES_TYPES)

    @property
    def file_rows(self) -> int:
        return sum(n for kind, n in self.counts.items() if kind in FILE_TYPES)


def _first_ids(part: pq.ParquetFile) -> tuple[str, str] | None:
    for group in range(part.metadata.num_row_groups):
        table = part.read_row_group(group, columns=["project_id", "run_id"])
        if table.num_rows:
            return str(table["project_id"][0].as_py()), str(table["run_id"][0].as_py())
    return None


def plan_run(files: RunFiles, project_map: dict[str, str]) -> RunPlan:
    """Read ids, ``sys/`` values and counts of a complete run; ``problem`` says what failed."""
    plan = RunPlan(files)
    try:
        for path in files.ordered_parts:
            with pq.ParquetFile(path, read_dictionary=["attribute_path", "attribute_type"]) as part:
                _plan_part(plan, part)
    except (OSError, ValueError) as error:  # pyarrow raises ArrowInvalid (a ValueError)
        plan.problem = f"cannot read {path.name}: {error}"
        return plan
    if not plan.run_id:
        plan.problem = "the run's parts hold no rows"
    plan.target_project = project_map.get(plan.project, plan.project)
    return plan


def _plan_part(plan: RunPlan, part: pq.ParquetFile) -> None:
    """Counts from two dictionary columns; whole rows only of row groups holding ``sys/`` rows
    (the exporter writes parameters as batches of their own, so these are small)."""
    ids = _first_ids(part)
    if ids is not None and not plan.run_id:
        plan.project, plan.run_id = ids
    for group in range(part.metadata.num_row_groups):
        names = part.read_row_group(group, columns=["attribute_path", "attribute_type"])
        kinds = names.column("attribute_type")
        for item in pc.value_counts(kinds).to_pylist():
            plan.counts[str(item["values"])] += int(item["counts"])
        paths = names.column("attribute_path").combine_chunks()
        if not any(str(p).startswith(SYS_PREFIX) for p in paths.dictionary.to_pylist()):
            continue
        table = part.read_row_group(group)
        mask = pc.starts_with(table.column("attribute_path").cast(pa.string()), SYS_PREFIX)
        _read_sys(plan, table.filter(mask).to_pylist())


def _read_sys(plan: RunPlan, rows: Iterable[dict[str, object]]) -> None:
    for row in rows:
        path = row["attribute_path"]
        if path == "sys/name" and isinstance(row["string_value"], str):
            plan.experiment = row["string_value"] or None
        elif path == "sys/family" and isinstance(row["string_value"], str):
            plan.family = row["string_value"] or None
        elif path == "sys/creation_time" and isinstance(row["datetime_value"], dt.datetime):
            plan.creation_ms = to_millis(row["datetime_value"])
        elif path == "sys/forking/parent" and isinstance(row["string_value"], str):
            plan.parent = row["string_value"] or None
        elif path == "sys/forking/step":
            plan.fork_step_micro = _fork_step(row.get("int_value"), row.get("float_value"))


def to_millis(value: dt.datetime) -> int:
    if value.tzinfo is None:  # pyarrow gives aware datetimes for tz="UTC"; be safe
        value = value.replace(tzinfo=dt.timezone.utc)
    delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * _MS_PER_S + delta.microseconds // 1000


def _fork_step(as_int: object, as_float: object) -> int | None:
    """The fork point in millionths; the exporter writes it as an int or as a float."""
    if isinstance(as_int, int):
        return as_int * MICROS
    if isinstance(as_float, float) and as_float == as_float:  # not NaN
        return round(as_float * MICROS)
    return None


def order_runs(plans: list[RunPlan]) -> list[RunPlan]:
    """Parents before children, per target project; children of runs that are not in the
    export are flagged ``orphan`` (the target may still hold the parent: the create says)."""
    by_key = {p.key: p for p in plans}
    children: dict[str, list[RunPlan]] = {}
    ready: deque[RunPlan] = deque()
    for plan in plans:
        parent_key = f"{plan.target_project}/{plan.parent}" if plan.parent else None
        if parent_key is not None and parent_key in by_key and parent_key != plan.key:
            children.setdefault(parent_key, []).append(plan)
            continue
        plan.orphan = parent_key is not None
        ready.append(plan)
    ordered: list[RunPlan] = []
    while ready:
        plan = ready.popleft()
        ordered.append(plan)
        ready.extend(children.pop(plan.key, []))
    for stuck in children.values():  # a cycle of parents: imported as roots, said so
        for plan in stuck:
            plan.orphan = True
            ordered.append(plan)
    return ordered
