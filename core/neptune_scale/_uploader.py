"""The file uploader stage: file bytes go to the transport beside the metrics, not in their way.

The sender hands every ``KIND_FILE`` record here as an :class:`Upload` and moves on; the status
checker confirms that record (and nothing after it) only once ``done`` is set, so the confirmed
position never passes a file that has not arrived, however the uploads finish among themselves.

Up to :data:`MAX_CONCURRENT_UPLOADS` uploads run at once, each in a slot: a
:class:`~neptune_scale._worker.Worker` thread that takes the oldest ready upload from the stage's
queue. The stage's own thread is the first slot; more join (up to the limit) when more uploads
wait than slots are free, so a run without files costs one idle thread. Slots are workers like
every other stage (not a ``concurrent.futures`` pool, whose threads a forked child would believe
alive), so they stop with the stage and are dead (and inert) in a forked child. At most
:data:`MAX_QUEUED_UPLOADS` are handed over and unfinished; beyond that the sender waits and the
records stay on disk. Sources are passed to the transport as paths (the http and local transports
stream them), so memory does not grow with file sizes.

A temporary source (the run folder's copy of logged bytes) is deleted only after its upload
succeeded; so when a later Run finds such a copy missing, the file had arrived before the earlier
process stopped, and it counts as delivered. ``stop_now`` (terminate, or close past its timeout)
abandons running uploads: their records stay in the log for the next Run or ``neptune sync``.

Retries: each upload has its own :class:`~neptune_scale._retry.Backoff`, so one file that keeps
failing waits alone while the others go on. When :data:`OUTAGE_FAILURES` attempts in a row fail
with no success between them, the destination itself is down rather than one file being unlucky:
a stage-wide backoff then holds every new attempt, so an outage never turns a long queue into a
burst of doomed requests. Problems are reported at most once per ``REPORT_EVERY_S`` stage-wide.
A file that cannot be uploaded at all is reported (NeptuneFileUploadError) and left on disk; its
FileRef attribute stays (as in the official client).
"""

from __future__ import annotations

import bisect
import collections
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from neptune_scale._retry import Backoff
from neptune_scale._worker import IDLE, JOIN_GRACE_S, Worker
from neptune_scale.exceptions import NeptuneConnectionLostError, NeptuneFileUploadError
from neptune_scale.transport import Failed, Transport

__all__ = ["MAX_CONCURRENT_UPLOADS", "MAX_QUEUED_UPLOADS", "FileUploader", "Upload"]

logger = logging.getLogger("neptune")

# Uploads wait on the network and the storage, not on this process's CPU: eight requests in
# flight hide one request's round trip (at 20 ms each, ~400 small files/s instead of ~50) while
# staying far below httpx's default pool (100 connections, 20 kept alive) and a server's
# workers, and bound what the stage holds open: eight threads, eight source files.
MAX_CONCURRENT_UPLOADS = 8
# This many failed attempts in a row, with no upload succeeding between them, mean an outage:
# as many as the slots can have in flight, so one round of parallel failures is enough.
OUTAGE_FAILURES = MAX_CONCURRENT_UPLOADS
# Uploads handed over but not finished, at most: each holds its request (a few hundred bytes),
# so this bounds the stage's memory to a few MB however far the log runs ahead of the storage.
# The sender waits (its records stay on disk) while the stage is full.
MAX_QUEUED_UPLOADS = 10_000
STOP_JOIN_S = JOIN_GRACE_S * 20  # terminate waits this long in all for the slots (as Worker)

Report = Callable[[BaseException], None]


@dataclass
class Upload:
    """One upload request (the JSON payload of a KIND_FILE record) and whether it finished."""

    payload: bytes
    done: bool = field(default=False)


@dataclass
class _Pending:
    seq: int  # submission order: the oldest ready upload goes first (it gates the confirmation)
    upload: Upload
    backoff: Backoff | None = None  # created at the upload's first retryable failure


class _Slot(Worker):
    """A helper thread of the stage: runs one upload at a time from the shared queue."""

    def __init__(self, stage: FileUploader, index: int) -> None:
        super().__init__(on_internal_error=stage.report)
        self.name = f"{FileUploader.name}-{index}"
        self._stage = stage

    def work(self) -> float | None:
        return self._stage.run_one(self)

    def request_stop(self) -> None:
        """What ``stop_now`` does, without its join: the stage joins all slots in one budget."""
        self._drain_deadline = 0.0
        self._closing.set()
        self._wake.set()

    def join(self, timeout: float) -> None:
        if self._thread is not None and self.in_owner_process:
            self._thread.join(timeout)


class FileUploader(Worker):
    name = "neptune-files"

    def __init__(
        self, transport: Transport, project: str, report: Report, on_done: Callable[[], None]
    ) -> None:
        super().__init__(on_internal_error=report)
        self._transport = transport
        self._project = project
        self.report = report
        self._on_done = on_done
        self._limit = max(1, MAX_CONCURRENT_UPLOADS)  # read here, so a benchmark can set it
        self._capacity = max(1, MAX_QUEUED_UPLOADS)
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._fresh: collections.deque[_Pending] = collections.deque()  # never tried yet
        self._retries: list[_Pending] = []  # waiting for their backoff, in ``seq`` order
        self._helpers: list[_Slot] = []
        self._idle: list[Worker] = []  # slots that found nothing to take: the ones to wake
        self._busy = 0  # slots inside an upload
        self._unfinished = 0  # submitted and not finished: queued, backing off or running
        self._started = False
        self._stopping = threading.Event()
        self._failures_in_row = 0
        self._outage = Backoff()  # the stage-wide hold, and the report throttle

    # -- the stage's interface --------------------------------------------------------------
    @property
    def full(self) -> bool:
        """True while MAX_QUEUED_UPLOADS are unfinished: the sender hands over no more."""
        return self._unfinished >= self._capacity

    def submit(self, upload: Upload) -> None:
        with self._lock:
            self._unfinished += 1
            self._fresh.append(_Pending(next(self._seq), upload))
            helper = self._grow()
            # One idle slot is enough (a busy one takes the next upload when it is done);
            # waking them all would make every slot compete with the sender for the GIL.
            idle = self._idle.pop() if self._idle else None
        if helper is not None:
            helper.start()
        if idle is not None:
            idle.wake()

    def start(self) -> None:
        self._started = self.in_owner_process
        super().start()

    def close(self, timeout: float | None = None) -> float | None:
        """Drain every slot within one ``timeout``; returns the unused part (as Worker)."""
        remaining = super().close(timeout)
        for slot in list(self._helpers):
            remaining = slot.close(remaining)
        return remaining

    def stop_now(self) -> None:
        """Stop every slot at once; an upload still running is abandoned (its record stays in
        the log, so the next Run or ``neptune sync`` uploads it)."""
        self._stopping.set()
        helpers = list(self._helpers)
        for slot in helpers:
            slot.request_stop()
        deadline = time.monotonic() + STOP_JOIN_S
        super().stop_now()
        for slot in helpers:
            slot.join(max(0.0, deadline - time.monotonic()))

    def work(self) -> float | None:
        return self.run_one(self)

    # -- one slot's turn -------------------------------------------------------------------
    def run_one(self, slot: Worker) -> float | None:
        """``slot`` takes the oldest ready upload and runs it; else says how long to wait."""
        if self._stopping.is_set():
            return IDLE
        with self._lock:
            pending, wait = self._take()
            if pending is None:
                if slot not in self._idle:
                    self._idle.append(slot)
                return wait
            if slot in self._idle:
                self._idle.remove(slot)
            self._busy += 1
        try:
            finished = self._attempt(pending)
        except BaseException:
            self._retry_later(pending, None)  # an internal error loses no upload
            raise
        finally:
            with self._lock:
                self._busy -= 1
        if finished:
            with self._lock:
                self._unfinished -= 1
            pending.upload.done = True
            self._on_done()
        return 0

    def _grow(self) -> _Slot | None:
        """A new helper slot when more uploads wait than slots are free (called locked)."""
        slots = 1 + len(self._helpers)
        waiting = len(self._fresh) + len(self._retries)
        if not self._started or self._stopping.is_set() or slots >= self._limit:
            return None
        if waiting <= slots - self._busy:
            return None
        helper = _Slot(self, slots)
        self._helpers.append(helper)
        return helper

    def _take(self) -> tuple[_Pending | None, float | None]:
        """The oldest upload allowed to go now, or (None, how long until one is)."""
        if not self._fresh and not self._retries:
            return None, IDLE
        hold = self._outage.remaining_s()
        if hold:
            return None, hold
        wait: float | None = IDLE
        for index, pending in enumerate(self._retries):
            if self._fresh and self._fresh[0].seq < pending.seq:
                break
            assert pending.backoff is not None
            remaining = pending.backoff.remaining_s()
            if not remaining:
                return self._retries.pop(index), 0
            wait = remaining if wait is None else min(wait, remaining)
        if self._fresh:
            return self._fresh.popleft(), 0
        return None, wait

    # -- one attempt -------------------------------------------------------------------------
    def _attempt(self, pending: _Pending) -> bool:
        """True when the upload is finished (delivered, or given up and reported)."""
        request = json.loads(pending.upload.payload)
        source, destination = Path(request["source"]), request["destination"]
        if not source.exists():
            if request.get("temporary"):
                # Our copy of logged bytes is deleted only after its upload succeeded: it
                # arrived, and the run stopped before that was confirmed.
                logger.debug("Upload to %r already delivered before a restart", destination)
                return True
            self.report(NeptuneFileUploadError(
                f"File {str(source)!r} for {destination!r} no longer exists; skipped"
            ))  # fmt: skip
            return True
        result = self._transport.upload_file(
            self._project, destination, source, request["mime_type"]
        )
        if isinstance(result, Failed):
            return self._failed(pending, result, source, destination)
        with self._lock:
            self._failures_in_row = 0
            self._outage.succeeded()
        if request.get("temporary"):
            source.unlink(missing_ok=True)
        return True

    def _failed(self, pending: _Pending, failure: Failed, source: Path, destination: str) -> bool:
        if self._stopping.is_set():
            return False  # stopped under it (the transport closed): left for the next Run
        if not failure.retryable:
            self.report(NeptuneFileUploadError(
                f"Uploading {str(source)!r} to {destination!r} failed: {failure.error}"
            ))  # fmt: skip
            return True
        delay, report = self._retry_later(pending, failure.retry_after_s)
        if report:
            self.report(NeptuneConnectionLostError(
                f"Uploading {destination!r} failed ({failure.error!r}); retrying in "
                f"{delay:.1f} s"
            ))  # fmt: skip
        return False

    def _retry_later(self, pending: _Pending, retry_after_s: float | None) -> tuple[float, bool]:
        """Back the upload off and queue it again; returns its delay and whether to report."""
        if pending.backoff is None:
            pending.backoff = Backoff()
        delay = pending.backoff.failed(retry_after_s)
        with self._lock:
            self._failures_in_row += 1
            # One step of the stage-wide backoff per round: the failures of the attempts
            # already in flight when the hold began do not lengthen it.
            if self._failures_in_row >= OUTAGE_FAILURES and not self._outage.remaining_s():
                delay = max(delay, self._outage.failed(retry_after_s))
            bisect.insort(self._retries, pending, key=lambda p: p.seq)
            return delay, self._outage.should_report()
