"""The file uploader stage: file bytes go to the transport beside the metrics, not in their way.

The sender hands every ``KIND_FILE`` record here as an :class:`Upload` and moves on; the status
checker confirms that record (and nothing after it) only once ``done`` is set, so the confirmed
position never passes a file that has not arrived. Retryable failures are retried with the
common backoff; a file that cannot be uploaded at all is reported (NeptuneFileUploadError) and
left on disk, its FileRef attribute stays (as in the official client).
"""

from __future__ import annotations

import collections
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from neptune_scale._retry import Backoff
from neptune_scale._worker import IDLE, Worker
from neptune_scale.exceptions import NeptuneConnectionLostError, NeptuneFileUploadError
from neptune_scale.transport import Failed, Transport

__all__ = ["FileUploader", "Upload"]

Report = Callable[[BaseException], None]


@dataclass
class Upload:
    """One upload request (the JSON payload of a KIND_FILE record) and whether it finished."""

    payload: bytes
    done: bool = field(default=False)


class FileUploader(Worker):
    name = "neptune-files"

    def __init__(
        self, transport: Transport, project: str, report: Report, on_done: Callable[[], None]
    ) -> None:
        super().__init__(on_internal_error=report)
        self._transport = transport
        self._project = project
        self._report = report
        self._on_done = on_done
        self._queue: collections.deque[Upload] = collections.deque()
        self._lock = threading.Lock()
        self._backoff = Backoff()

    def submit(self, upload: Upload) -> None:
        with self._lock:
            self._queue.append(upload)
        self.wake()

    def work(self) -> float | None:
        wait = self._backoff.remaining_s()
        if wait:
            return wait
        with self._lock:
            if not self._queue:
                return IDLE
            upload = self._queue[0]
        if not self._attempt(upload):
            return self._backoff.remaining_s()
        with self._lock:
            self._queue.popleft()
        upload.done = True
        self._on_done()
        return 0

    def _attempt(self, upload: Upload) -> bool:
        """True when the upload is finished (delivered, or given up and reported)."""
        request = json.loads(upload.payload)
        source, destination = Path(request["source"]), request["destination"]
        if not source.exists():
            self._report(NeptuneFileUploadError(
                f"File {str(source)!r} for {destination!r} no longer exists; skipped"
            ))  # fmt: skip
            return True
        result = self._transport.upload_file(
            self._project, destination, source, request["mime_type"]
        )
        if isinstance(result, Failed):
            if result.retryable:
                delay = self._backoff.failed(result.retry_after_s)
                if self._backoff.should_report():
                    self._report(NeptuneConnectionLostError(
                        f"Uploading {destination!r} failed ({result.error!r}); retrying in "
                        f"{delay:.1f} s"
                    ))  # fmt: skip
                return False
            self._report(NeptuneFileUploadError(
                f"Uploading {str(source)!r} to {destination!r} failed: {result.error}"
            ))  # fmt: skip
            return True
        self._backoff.succeeded()
        if request.get("temporary"):
            source.unlink(missing_ok=True)
        return True
