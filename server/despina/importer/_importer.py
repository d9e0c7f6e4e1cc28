"""One import: plan the export, then each run in fork order through the target."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode
from neptune_scale import wire as enc
from neptune_scale.transport import IngestIssue

from despina._patterns import UserPattern
from despina.importer import _summary as s
from despina.importer._convert import Converter, Request
from despina.importer._encode import MICROS
from despina.importer._layout import RunFiles, find_runs
from despina.importer._plan import FILE_TYPES, RunPlan, order_runs, plan_run
from despina.importer._progress import Progress
from despina.importer._read import batches
from despina.importer._target import DeliveryError, Target

__all__ = ["ImportOptions", "Reporter", "run_import"]

# Answers that a resumed or repeated import expects: not errors.
_EXPECTED = frozenset({IngestCode.RUN_DUPLICATE, IngestCode.SERIES_POINT_DUPLICATE})


@dataclass
class ImportOptions:
    data: Path
    files: Path | None = None
    project_map: dict[str, str] = field(default_factory=dict)
    runs: UserPattern | None = None
    dry_run: bool = False


class Reporter(Protocol):
    """Progress callbacks (the command draws a bar)."""

    def planned(self, runs: int, points: int, file_rows: int) -> None: ...

    def advance(self, points: int = 0, file_bytes: int = 0) -> None: ...

    def run_done(self, label: str) -> None: ...


class _Silent:
    def planned(self, runs: int, points: int, file_rows: int) -> None:
        pass

    def advance(self, points: int = 0, file_bytes: int = 0) -> None:
        pass

    def run_done(self, label: str) -> None:
        pass


def run_import(
    options: ImportOptions, target: Target | None, reporter: Reporter | None = None
) -> s.Summary:
    """Import (or, ``target`` None / ``dry_run``, only plan) the export at ``options.data``."""
    reporter = reporter or _Silent()
    summary = s.Summary(dry_run=options.dry_run or target is None)
    found, registry = find_runs(options.data)
    summary.skipped_folders = [str(p) for p in registry]
    plans = _plans(found, options, summary)
    for plan in plans:
        summary.types.update(plan.counts)
    reporter.planned(len(plans), sum(p.points for p in plans), sum(p.file_rows for p in plans))
    if summary.dry_run or target is None:
        for plan in plans:
            summary.runs.append(_would(plan, options.files))
            reporter.run_done(plan.key)
        return summary
    progress = Progress(options.data, target.description)
    stopped: str | None = None
    for plan in plans:
        if stopped is not None:  # the target kept failing: the others are not attempted
            summary.runs.append(
                s.RunResult(plan.target_project, plan.run_id, s.FAILED, notes=[stopped])
            )
            continue
        result = _import_run(plan, options.files, target, progress, reporter)
        summary.runs.append(result)
        if result.status == s.FAILED:
            stopped = f"not attempted: {result.notes[-1]}"
        reporter.run_done(plan.key)
    return summary


def _plans(found: list[RunFiles], options: ImportOptions, summary: s.Summary) -> list[RunPlan]:
    plans: list[RunPlan] = []
    for files in found:
        if not files.complete:
            note = "no part 0 (its export was interrupted); not imported"
            summary.runs.append(s.RunResult("", files.label, s.INTERRUPTED, notes=[note]))
            continue
        plan = plan_run(files, options.project_map)
        if plan.problem is not None:
            summary.runs.append(
                s.RunResult(plan.project, files.label, s.FAILED, notes=[plan.problem])
            )
            continue
        if options.runs is not None and not options.runs.search(plan.run_id):
            continue
        plans.append(plan)
    return order_runs(plans)


def _would(plan: RunPlan, files_root: Path | None) -> s.RunResult:
    result = s.RunResult(plan.target_project, plan.run_id, s.WOULD)
    result.points = plan.points
    result.items = sum(plan.counts.values()) - plan.points
    result.files = plan.file_rows
    if files_root is None and plan.file_rows:
        result.notes.append(f"{plan.file_rows} file values skipped (no --files)")
    elif files_root is not None:
        result.file_bytes = _file_bytes(plan, files_root)
    _fork_notes(plan, result)
    if plan.files.leftovers:
        result.notes.append(f"{len(plan.files.leftovers)} .tmp leftovers ignored")
    return result


def _file_bytes(plan: RunPlan, files_root: Path) -> int:
    root = files_root / plan.files.folder.name
    total = 0
    for part in plan.files.ordered_parts:
        for batch in batches(part, ["attribute_type", "file_value"]):
            for kind, value in zip(
                batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True
            ):
                if kind in FILE_TYPES and value and value.get("path"):
                    path = root / value["path"]
                    if path.is_file():
                        total += path.stat().st_size
                    elif path.is_dir():
                        total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return total


def _fork_notes(plan: RunPlan, result: s.RunResult) -> None:
    if plan.parent and plan.orphan:
        result.notes.append(f"forked from {plan.parent}, which is not in the export")
    elif plan.parent:
        result.notes.append(f"fork of {plan.parent}")


def _create_message(plan: RunPlan) -> bytes:
    creation_ms = plan.creation_ms if plan.creation_ms is not None else int(time.time() * 1000)
    seconds, ms = divmod(creation_ms, 1000)
    fork = None
    if plan.parent:
        micro = plan.fork_step_micro or 0
        step: float | int = micro // MICROS if micro % MICROS == 0 else micro / MICROS
        fork = (plan.target_project, plan.parent, step)
    return enc.encode_create_run(
        family=plan.family or plan.run_id,
        creation_time=(seconds, ms * 1_000_000),
        experiment_name=plan.experiment,
        fork=fork,
        inherit_configs=False,  # the export holds the child's own values, inherited ones too
    )


def _import_run(
    plan: RunPlan, files_root: Path | None, target: Target, progress: Progress, reporter: Reporter
) -> s.RunResult:
    result = s.RunResult(plan.target_project, plan.run_id, s.IMPORTED)
    fingerprint = plan.files.fingerprint()
    errors: dict[int, list[IngestIssue]] = {}
    try:
        issues = target.create(plan.target_project, plan.run_id, _create_message(plan))
        # Recorded as finished and still there: skipped. A target that lost the run (a store
        # deleted and made anew at the same place) answers the create as a new run instead.
        if progress.finished(plan.key, fingerprint) and _resumed(issues):
            result.status = s.ALREADY
            return result
        _fork_result(plan, issues, result)
        _collect(issues, errors, ignore=IngestCode.RUN_FORK_PARENT_NOT_FOUND)
        if not any(i.code == IngestCode.RUN_INVALID_CREATION_PARAMETERS for i in issues):
            converter = Converter(plan, files_root)
            _stream(plan, converter, target, result, errors, reporter)
            _converter_notes(converter, result)
    except DeliveryError as error:
        result.status = s.FAILED
        result.notes.append(str(error))
        return result
    if errors:
        result.status = s.PARTLY
        result.notes.extend(_issue_notes(errors))
    elif result.status == s.IMPORTED:
        progress.record(plan.key, fingerprint)
    return result


def _resumed(issues: tuple[IngestIssue, ...]) -> bool:
    return any(i.code in (IngestCode.RUN_DUPLICATE, IngestCode.RUN_CONFLICTING) for i in issues)


def _stream(
    plan: RunPlan,
    converter: Converter,
    target: Target,
    result: s.RunResult,
    errors: dict[int, list[IngestIssue]],
    reporter: Reporter,
) -> None:
    for part in plan.files.ordered_parts:
        for batch in batches(part):
            for request in converter.requests(batch):
                _send(plan, request, target, errors, result, reporter)
    for request in converter.flush():
        _send(plan, request, target, errors, result, reporter)


def _send(
    plan: RunPlan,
    request: Request,
    target: Target,
    errors: dict[int, list[IngestIssue]],
    result: s.RunResult,
    reporter: Reporter,
) -> None:
    for upload in request.uploads:
        target.upload(plan.target_project, upload.destination, upload.source, upload.mime)
    issues = target.update(plan.target_project, plan.run_id, bytes(request.body))
    _collect(issues, errors)
    result.points += request.points
    result.items += request.items - len(request.uploads)
    result.files += len(request.uploads)
    result.file_bytes += request.file_bytes
    reporter.advance(request.points, request.file_bytes)


def _collect(
    issues: tuple[IngestIssue, ...], errors: dict[int, list[IngestIssue]], ignore: int = -1
) -> None:
    for issue in issues:
        if issue.code not in _EXPECTED and issue.code != ignore:
            errors.setdefault(issue.code, []).append(issue)


def _fork_result(plan: RunPlan, issues: tuple[IngestIssue, ...], result: s.RunResult) -> None:
    if not plan.parent:
        return
    if any(i.code == IngestCode.RUN_FORK_PARENT_NOT_FOUND for i in issues):
        result.notes.append(
            f"forked from {plan.parent}, which is in neither the export nor the target: "
            "imported as a root, the requested parent recorded"
        )
    else:
        result.notes.append(f"fork of {plan.parent}")


def _converter_notes(converter: Converter, result: s.RunResult) -> None:
    if converter.skipped_files:
        result.notes.append(f"{converter.skipped_files} file values skipped (no --files)")
        result.status = s.PARTLY
    if converter.problems:
        result.notes.extend(converter.problems[:5])
        result.status = s.PARTLY
    if converter.plan.files.leftovers:
        result.notes.append(f"{len(converter.plan.files.leftovers)} .tmp leftovers ignored")


def _issue_notes(errors: dict[int, list[IngestIssue]]) -> list[str]:
    notes = []
    for code, issues in errors.items():
        count = sum(i.count for i in issues)
        name = IngestCode.Name(code) if code in IngestCode.values() else str(code)
        first = issues[0].message or issues[0].path
        notes.append(f"{count} refused ({name}): {first}")
    return notes
