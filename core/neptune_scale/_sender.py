"""Sender and status checker: from the operation log to the transport, and back to the log.

The sender reads records after the last submitted position and wraps them into ``RunOperation``
messages (a CreateRun alone; a run of snapshots up to ``MAX_BATCH_BYTES``, read from the log in
one piece, is the ``update_batch`` body as it lies there), submits them and records the request
ids. The status checker asks the transport about those ids in order; what is confirmed processed
is marked in the log's ``acked`` file, and the rules broken where the data landed go to the
callbacks as their exceptions.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from neptune_scale import _oplog
from neptune_scale import wire as enc
from neptune_scale._oplog import read as _oplog_read
from neptune_scale._retry import Backoff
from neptune_scale._uploader import FileUploader, Upload
from neptune_scale._worker import IDLE, Worker
from neptune_scale.exceptions import (
    FATAL_ERRORS,
    NeptuneConnectionLostError,
    NeptuneLocalStorageFull,
    NeptuneScaleError,
    NeptuneSynchronizationStopped,
    exception_for_ingest_code,
)
from neptune_scale.transport import Failed, IngestIssue, Processed, Transport

__all__ = ["InFlight", "PipelineState", "Sender", "StatusChecker"]

MAX_REQUEST_BYTES = 16 * 1024 * 1024 - 200  # protocol §2.5, minus room for the envelope
# Batches stay well below the protocol's limit: requests of a few MiB already amortise the
# per-request cost, and smaller ones keep the sender's memory (and RSS) low.
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_CHECK_IDS = 1000  # ids per check() call (protocol §2.2)
FIRST_POLL_S = 0.005  # status polling starts fast (the local transport answers at once)
MAX_POLL_S = 1.0  # ... and slows down to the official client's period
UPLOADER_FULL_WAIT_S = 0.05  # how often a sender held back by a full uploader looks again

Report = Callable[[BaseException], None]


@dataclass(frozen=True, slots=True)
class InFlight:
    request_id: str | None  # None: a file upload, finished when ``upload.done``
    end: int  # log position after the last record of the request
    ops: int
    upload: Upload | None = None


class PipelineState:
    """Positions shared by the stages and the waiting user thread."""

    def __init__(self, folder: Path, acked_position: int) -> None:
        self.folder = folder
        self.cond = threading.Condition()
        self.sent_position = acked_position
        self.acked_position = acked_position
        self.sent_ops = 0
        self.acked_ops = 0
        self.inflight: collections.deque[InFlight] = collections.deque()
        self.fatal: BaseException | None = None

    def mark_sent(self, entry: InFlight) -> None:
        with self.cond:
            self.inflight.append(entry)
            self.sent_position = entry.end
            self.sent_ops += entry.ops
            self.cond.notify_all()

    def head(self, limit: int) -> list[InFlight]:
        with self.cond:
            return [self.inflight[i] for i in range(min(limit, len(self.inflight)))]

    def mark_acked(self, count: int) -> OSError | None:
        """Record that the first ``count`` requests in flight were processed; the error when
        the ``acked`` file could not be written (a full disk: tried again on the next call)."""
        with self.cond:
            done = [self.inflight.popleft() for _ in range(count)]
            position = done[-1].end
        error = None
        try:
            _oplog.write_acked(self.folder, position)
        except OSError as e:
            error = e  # the file keeps an older position: its segments must stay too
        else:
            _oplog.delete_segments_before(self.folder, position)
        with self.cond:
            self.acked_position = position
            self.acked_ops += sum(e.ops for e in done)
            self.cond.notify_all()
        return error

    def set_fatal(self, error: BaseException) -> None:
        with self.cond:
            if self.fatal is None:
                self.fatal = error
            self.cond.notify_all()


class Sender(Worker):
    name = "neptune-sender"
    # The hot path never wakes the sender: it looks for new records this often. A fast loop
    # appends ~4 MB in 0.1 s, so a batch is then one read of what lies on disk; a longer
    # period makes batches pass MAX_BATCH_BYTES, and cutting one walks its records.
    idle_wake_s = 0.1

    def __init__(
        self,
        state: PipelineState,
        transport: Transport,
        project: str,
        run_id: str,
        report: Report,
        on_sent: Callable[[], None],
        head: Callable[[], tuple[int, int]],
        marks: collections.deque[_oplog.Mark],
        uploader: FileUploader,
    ) -> None:
        super().__init__(on_internal_error=report)
        self._state = state
        self._transport = transport
        self._project = project
        self._run_id = run_id
        self._report = report
        self._on_sent = on_sent
        self._reader = _oplog_read.LogReader(state.folder, state.sent_position, marks)
        self._head = head  # the writer's head: everything before it is complete
        self._uploader = uploader
        self._prefix = enc.run_operation_prefix(project, run_id)
        self._budget = min(MAX_BATCH_BYTES, MAX_REQUEST_BYTES - len(self._prefix))
        self._batch: _oplog_read.Batch | None = None
        self._backoff = Backoff()

    def work(self) -> float | None:
        if self._state.fatal is not None:
            return IDLE
        wait = self._backoff.remaining_s()
        if wait:
            return wait
        if self._batch is None:
            self._batch = self._next_batch()
            if self._batch is None:
                return IDLE
        kind, payload, end, ops = self._batch
        if kind == _oplog.KIND_FILE:
            if self._uploader.full:
                return UPLOADER_FULL_WAIT_S  # the record stays here (and on disk) until room
            upload = Upload(payload)
            self._finish(InFlight(None, end, ops, upload))
            self._uploader.submit(upload)
            return 0
        result = self._transport.submit(self._project, self._run_id, payload)
        if isinstance(result, Failed):
            return self._failed(result)
        self._finish(InFlight(result.request_id, end, ops))
        return 0

    def _finish(self, entry: InFlight) -> None:
        self._backoff.succeeded()
        self._batch = None
        self._state.mark_sent(entry)
        self._on_sent()

    def _failed(self, failure: Failed) -> float | None:
        if not failure.retryable:
            error = failure.error
            if not isinstance(error, FATAL_ERRORS):
                error = NeptuneSynchronizationStopped(
                    f"Delivery failed and cannot be retried ({error!r}); sending stopped, "
                    "the data stays on disk"
                )
            self._state.set_fatal(error)
            self._report(error)
            return IDLE
        delay = self._backoff.failed(failure.retry_after_s)
        if self._backoff.should_report():
            self._report(_retryable(failure.error, delay))
        return delay

    def _next_batch(self) -> _oplog_read.Batch | None:
        batch = self._reader.read_batch(self._budget, self._head())
        if batch is None:
            return None
        if batch.kind == _oplog.KIND_CREATE:
            return batch._replace(payload=enc.run_operation_create(self._prefix, batch.payload))
        if batch.kind != _oplog.KIND_SNAPSHOT:
            return batch
        header = enc.run_operation_batch_header(self._prefix, len(batch.payload))
        return batch._replace(payload=header + batch.payload)

    def on_close(self) -> None:
        self._reader.close()


class StatusChecker(Worker):
    name = "neptune-status"

    def __init__(
        self, state: PipelineState, transport: Transport, project: str, report: Report
    ) -> None:
        super().__init__(on_internal_error=report)
        self._state = state
        self._transport = transport
        self._project = project
        self._report = report
        self._backoff = Backoff()
        self._poll_s = FIRST_POLL_S
        self._acked_failing = False

    def work(self) -> float | None:
        if self._state.fatal is not None:
            return IDLE
        wait = self._backoff.remaining_s()
        if wait:
            return wait
        entries = self._state.head(MAX_CHECK_IDS)
        if not entries:
            return IDLE
        ids = [e.request_id for e in entries if e.request_id is not None]
        statuses = self._transport.check(self._project, ids) if ids else []
        if isinstance(statuses, Failed):
            delay = self._backoff.failed(statuses.retry_after_s)
            if self._backoff.should_report():
                self._report(_retryable(statuses.error, delay))
            return delay
        self._backoff.succeeded()
        done = self._count_processed(entries, statuses)
        if done:
            self._report_acked_error(self._state.mark_acked(done))
            self._poll_s = FIRST_POLL_S
        if self._state.fatal is not None:
            return IDLE
        if done < len(entries):
            self._poll_s = min(MAX_POLL_S, self._poll_s * 2)
            return self._poll_s
        return 0

    def _report_acked_error(self, error: OSError | None) -> None:
        if error is not None and not self._acked_failing:
            self._report(
                NeptuneLocalStorageFull(
                    f"Cannot record delivered operations in {self._state.folder} "
                    f"({error.strerror}); nothing is lost, but a restart would send them again"
                )
            )
        self._acked_failing = error is not None

    def _count_processed(self, entries: list[InFlight], statuses: list[Processed | None]) -> int:
        done = 0
        index = 0
        for entry in entries:
            if entry.upload is not None and not entry.upload.done:
                break  # the confirmed position never passes a file still on its way
            if entry.request_id is not None:
                status = statuses[index] if index < len(statuses) else None
                index += 1
                if status is None:
                    break
                if self._handle_issues(status.issues):
                    break  # fatal: this request's operations stay on disk
            done += 1
        return done

    def _handle_issues(self, issues: tuple[IngestIssue, ...]) -> bool:
        fatal = False
        for issue in issues:
            error = exception_for_ingest_code(issue.code, issue.message, issue.path)
            if error is None:
                continue
            if isinstance(error, FATAL_ERRORS):
                fatal = True
                self._state.set_fatal(error)
            self._report(error)
        return fatal


def _retryable(error: BaseException, delay: float) -> NeptuneScaleError:
    if isinstance(error, NeptuneScaleError):
        return error
    return NeptuneConnectionLostError(f"Delivery failed ({error!r}); retrying in {delay:.1f} s")
