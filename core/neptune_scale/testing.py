"""An in-memory transport for tests: runs a real ``Run`` pipeline without a store or server.

It parses every ``RunOperation`` with the neptune-api protobuf classes, keeps them, can apply two
rules of the real destinations (steps strictly increasing per series, attribute type fixed once
set) and can be told to fail the next submissions or keep statuses pending, so tests can drive
the retry and callback paths::

    transport = MemoryTransport()
    with Run(project="ws/p", run_id="r", transport=transport) as run:   # transport: internal
        run.log_metrics({"loss": 0.5}, step=1)
    transport.metric_points("r", "loss")   # [(1.0, 0.5)]
"""

from __future__ import annotations

import collections
import itertools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neptune_scale.transport import Failed, IngestIssue, Processed, Submitted

__all__ = ["MemoryTransport"]

SERIES_STEP_NON_INCREASING = 25
FIELD_TYPE_CONFLICTING = 21


class MemoryTransport:
    """Implements :class:`neptune_scale.transport.Transport` in memory (thread-safe)."""

    def __init__(self, *, rules: bool = True) -> None:
        self.rules = rules
        self.raw: list[bytes] = []
        self.files: dict[tuple[str, str], bytes] = {}
        self.submit_failures: collections.deque[Failed] = collections.deque()
        self.pending_checks = 0  # this many check() calls answer "not processed yet"
        self.check_calls = 0
        self.closed = False
        self._statuses: dict[str, Processed] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._last_step: dict[tuple[str, str], float] = {}
        self._types: dict[tuple[str, str], str] = {}

    # -- the Transport interface ----------------------------------------------------------
    def submit(self, project: str, run_id: str, operation: bytes) -> Submitted | Failed:
        with self._lock:
            if self.submit_failures:
                return self.submit_failures.popleft()
            issues = self._apply(operation) if self.rules else ()
            self.raw.append(operation)
            request_id = f"req-{next(self._ids)}"
            self._statuses[request_id] = Processed(issues)
            return Submitted(request_id)

    def check(self, project: str, request_ids: Sequence[str]) -> list[Processed | None] | Failed:
        with self._lock:
            self.check_calls += 1
            if self.pending_checks > 0:
                self.pending_checks -= 1
                return [None for _ in request_ids]
            return [self._statuses.get(i, Processed()) for i in request_ids]

    def upload_file(
        self, project: str, destination: str, source: Path, mime_type: str
    ) -> Failed | None:
        with self._lock:
            self.files[(project, destination)] = source.read_bytes()
        return None

    def close(self) -> None:
        self.closed = True

    # -- reading back -----------------------------------------------------------------------
    @property
    def operations(self) -> list[Any]:
        """Every submitted ``RunOperation``, parsed."""
        with self._lock:
            return [_parse(raw) for raw in self.raw]

    def snapshots(self, run_id: str) -> list[Any]:
        out = []
        for op in self.operations:
            if op.run_id != run_id:
                continue
            kind = op.WhichOneof("operation")
            if kind == "update_batch":
                out.extend(op.update_batch.snapshots)
            elif kind == "update":
                out.append(op.update)
        return out

    def creates(self, run_id: str) -> list[Any]:
        return [
            op.create
            for op in self.operations
            if op.run_id == run_id and op.WhichOneof("operation") == "create"
        ]

    def metric_points(self, run_id: str, path: str) -> list[tuple[float, float]]:
        return [
            (_step(s), s.append[path].float64) for s in self.snapshots(run_id) if path in s.append
        ]

    def configs(self, run_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for snapshot in self.snapshots(run_id):
            for path, value in snapshot.assign.items():
                out[path] = getattr(value, value.WhichOneof("value"))
        return out

    def tags(self, run_id: str, path: str = "sys/tags") -> set[str]:
        tags: set[str] = set()
        for snapshot in self.snapshots(run_id):
            if path in snapshot.modify_sets:
                for tag, op in snapshot.modify_sets[path].string.values.items():
                    (tags.add if op == 1 else tags.discard)(tag)
        return tags

    def point_count(self) -> int:
        """Series points in every submitted snapshot."""
        return sum(
            len(s.append)
            for op in self.operations
            if op.WhichOneof("operation") == "update_batch"
            for s in op.update_batch.snapshots
        )

    # -- rules -----------------------------------------------------------------------------
    def _apply(self, raw: bytes) -> tuple[IngestIssue, ...]:
        op = _parse(raw)
        if op.WhichOneof("operation") != "update_batch":
            return ()
        issues: list[IngestIssue] = []
        for snapshot in op.update_batch.snapshots:
            for path, value in snapshot.assign.items():
                self._type_rule(op.run_id, path, value.WhichOneof("value"), issues)
            for path, value in snapshot.append.items():
                if self._type_rule(op.run_id, path, value.WhichOneof("value") + "_series", issues):
                    self._step_rule(op.run_id, path, snapshot, issues)
        return tuple(issues)

    def _type_rule(self, run_id: str, path: str, kind: str, issues: list[IngestIssue]) -> bool:
        known = self._types.setdefault((run_id, path), kind)
        if known != kind:
            issues.append(
                IngestIssue(
                    FIELD_TYPE_CONFLICTING, path, f"attribute is {known}, cannot store {kind}"
                )
            )
            return False
        return True

    def _step_rule(self, run_id: str, path: str, snapshot: Any, issues: list[IngestIssue]) -> None:
        step = _step(snapshot)
        last = self._last_step.get((run_id, path))
        if last is not None and step <= last and not snapshot.preview.is_preview:
            issues.append(
                IngestIssue(
                    SERIES_STEP_NON_INCREASING,
                    path,
                    f"step {step} is not after the last step {last}",
                )
            )
            return
        if not snapshot.preview.is_preview:
            self._last_step[(run_id, path)] = step


def _parse(raw: bytes) -> Any:
    from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation

    op = RunOperation()
    op.ParseFromString(raw)
    return op


def _step(snapshot: Any) -> float:
    return float(snapshot.step.whole + snapshot.step.micro / 1e6)
