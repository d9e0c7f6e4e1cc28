"""One run's upload pipeline: the durable log and the stages around it.

``Pipeline.append`` is what the ``Run`` facade calls on the hot path (bound straight to the log
writer). Everything else — sending, status checks, msync, callbacks — runs in background workers.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neptune_scale import _damage, _oplog, _oplog_read
from neptune_scale._errors import Callbacks, ErrorRouter
from neptune_scale._monitor import Monitor
from neptune_scale._sender import PipelineState, Sender, StatusChecker
from neptune_scale._uploader import FileUploader
from neptune_scale.exceptions import NeptuneOperationLogDamaged
from neptune_scale.transport import Transport

__all__ = ["Pipeline", "run_folder"]

logger = logging.getLogger("neptune")

PROGRESS_EVERY_S = 5.0  # verbose waits print progress this often
MAX_NAME_PART = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SIBLING = re.compile(r"\.\d+$")  # the suffix of a sibling folder (see _claim)

_live: weakref.WeakSet[Pipeline] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for pipeline in list(_live):
        pipeline.detach_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def run_folder(log_directory: Path, project: str, run_id: str) -> Path:
    """The folder holding a run's operation log (the same for the same project and run id)."""
    digest = hashlib.blake2b(f"{project}\0{run_id}".encode(), digest_size=6).hexdigest()
    name = f"{_UNSAFE.sub('_', project)[:MAX_NAME_PART]}_{_UNSAFE.sub('_', run_id)[:MAX_NAME_PART]}"
    return log_directory / "runs" / f"{name}_{digest}"


def _claim(folder: Path, exact: bool) -> tuple[Path, int]:
    """Lock the run folder, or a sibling if another live process holds it (unless ``exact``)."""
    for attempt in range(1 if exact else 1000):
        candidate = folder if attempt == 0 else folder.with_name(f"{folder.name}.{attempt}")
        candidate.mkdir(parents=True, exist_ok=True)
        fd = os.open(candidate / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return candidate, fd
    if exact:
        raise RuntimeError(f"{folder} is in use by a running process")
    raise RuntimeError(f"Could not lock a folder for the run next to {folder}")


class Pipeline:
    def __init__(
        self,
        folder: Path,
        project: str,
        run_id: str,
        *,
        transport: Transport | None,
        callbacks: Callbacks,
        max_queue_size: int,
        lag_threshold_s: float | None,
        exact_folder: bool = False,
    ) -> None:
        self.folder, self._lock_fd = _claim(folder, exact_folder)
        self.project = project
        self.run_id = run_id
        self.accept_damage = False  # set by ``sync --skip-damaged``: remove the folder anyway
        self.format = _oplog.FORMAT_VERSION
        acked, found, notes = self._open_log()
        self.recovered_ops = found.records
        self.damage = _damage.record(self.folder, found.damage)
        writer = _oplog.LegacyLogWriter if self.format == 2 else _oplog.LogWriter
        self.writer = writer(self.folder, *found[:3], found.slot, found.check)
        self.append_snapshot: Callable[[bytes], None] = self.writer.append_snapshot
        self.state = PipelineState(self.folder, acked)
        self.errors = ErrorRouter(callbacks)
        self.report = self.errors.report
        if notes or found.damage:
            self.report(
                NeptuneOperationLogDamaged(_damage.message(self.folder, notes, found.damage))
            )
        self.monitor = Monitor(
            self.writer, self.state, self.report,
            max_queue_size=max_queue_size, lag_threshold_s=lag_threshold_s,
            sending=transport is not None,
        )  # fmt: skip
        self._transport = transport
        self._checker: StatusChecker | None = None
        self._sender: Sender | None = None
        self._uploader: FileUploader | None = None
        if transport is not None:
            self._checker = StatusChecker(self.state, transport, project, self.report)
            self._uploader = FileUploader(transport, project, self.report, self._checker.wake)
            self._sender = Sender(
                self.state,
                transport,
                project,
                run_id,
                self.report,
                self._checker.wake,
                head=_head_of(self.writer),
                marks=self.writer.marks,
                uploader=self._uploader,
            )
        self._closed = False
        self._released = False
        self._close_lock = threading.Lock()
        self._forked = False
        _live.add(self)

    def _open_log(self) -> tuple[int, _oplog_read.LogScan, list[str]]:
        if not _oplog.has_meta(self.folder):
            (self.folder / "blobs").mkdir(exist_ok=True)
            _oplog.write_meta(self.folder, self.project, self.run_id)
            return 0, _oplog_read.LogScan(0, 0, ()), []
        try:
            meta, notes = _oplog.read_meta_checked(self.folder)
        except ValueError as error:
            meta, notes = self._identity_from_name(error)
        if (meta["project"], meta["run_id"]) != (self.project, self.run_id):
            raise RuntimeError(
                f"{self.folder} belongs to run {meta['run_id']!r} of "
                f"{meta['project']!r}, not {self.run_id!r}"
            )
        self.format = meta["format"]
        if notes and self.format >= 3:  # one copy was damaged: write both again
            _oplog.write_meta(self.folder, self.project, self.run_id, meta["create"])
        acked = _oplog.read_acked(self.folder)
        return acked, _oplog_read.recover(self.folder, acked, meta["create"]), notes

    def _identity_from_name(self, error: ValueError) -> tuple[dict[str, Any], list[str]]:
        """Both copies of the identity are unreadable: the folder's name (a digest of project
        and run id) still tells whether it is this run's; if so its identity is written again.
        Format 2 wrote no index files: a folder with segments and no index is format 2."""
        name = _SIBLING.sub("", self.folder.name)
        if name != run_folder(self.folder, self.project, self.run_id).name:
            raise error
        segments, indexes = self.folder.glob("ops-*.log"), self.folder.glob("ops-*.idx")
        legacy = any(True for _ in segments) and not any(True for _ in indexes)
        meta: dict[str, Any] = {
            "format": 2 if legacy else 3,
            "project": self.project,
            "run_id": self.run_id,
        }
        if legacy:
            _oplog.replace_file(self.folder / _oplog.META_FILE, json.dumps(meta).encode())
        else:
            _oplog.write_meta(self.folder, self.project, self.run_id)
        meta["create"] = None
        return meta, [f"{error}; written again from the run's folder name"]

    def append(self, kind: int, payload: bytes) -> None:
        """Append a record of any kind; the create record's message is also kept in meta.json
        (both copies), so a damaged create record can be rewritten from there."""
        if kind == _oplog.KIND_CREATE and self.format >= 3 and not self._forked:
            _oplog.write_meta(self.folder, self.project, self.run_id, payload)
        self.writer.append(kind, payload)

    def start(self) -> None:
        for worker in (self.errors, self.monitor, self._checker, self._uploader, self._sender):
            if worker is not None:
                worker.start()

    def wake_sender(self) -> None:
        if self._sender is not None:
            self._sender.wake()

    @property
    def blob_dir(self) -> Path:
        return self.folder / "blobs"

    @property
    def sending(self) -> bool:
        return self._sender is not None

    def pending_ops(self) -> int:
        return self.writer.ops - self.state.acked_ops

    def wait(self, *, processed: bool, timeout: float | None, verbose: bool) -> bool:
        """Until everything appended so far is submitted (or processed); False on timeout."""
        if self._forked:
            return False
        target = self.writer.position
        if self._sender is None:
            self.writer.flush()  # offline: on disk is where it lands
            return True
        self.wake_sender()
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        next_progress = start + PROGRESS_EVERY_S
        state = self.state
        with state.cond:
            while True:
                reached = state.acked_position if processed else state.sent_position
                if reached >= target:
                    return True
                if state.fatal is not None:
                    return False
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    return False
                if verbose and now >= next_progress:
                    next_progress = now + PROGRESS_EVERY_S
                    self._progress(processed, start, now)
                limit = next_progress - now
                if deadline is not None:
                    limit = min(limit, deadline - now)
                state.cond.wait(max(limit, 0.0))

    def _progress(self, processed: bool, start: float, now: float) -> None:
        done = self.state.acked_ops if processed else self.state.sent_ops
        what = "processed" if processed else "submitted"
        logger.info(
            "Waiting for %d operations to be %s (%.0f ops/s so far)",
            self.writer.ops - done,
            what,
            done / max(now - start, 1e-9),
        )

    def close(self, timeout: float | None, *, verbose: bool = False) -> bool:
        """Deliver what is pending (within ``timeout``), stop the stages, release the folder.

        Returns True when everything was delivered (the folder is then removed)."""
        with self._close_lock:
            if self._closed or self._forked:
                return False
            self._closed = True
        delivered = self.wait(processed=True, timeout=timeout, verbose=verbose)
        for stage in (self._sender, self._uploader, self._checker):
            if stage is not None:
                stage.stop_now()
        self.monitor.stop_now()
        self.writer.close()
        self.errors.stop_now()
        self.errors.drain_inline()
        if self._transport is not None:
            self._transport.close()
        complete = self._sender is not None and delivered and self.pending_ops() == 0
        self._release(remove=complete and (not self.damage or self.accept_damage))
        return complete

    def terminate(self) -> None:
        """Stop at once; whatever is not delivered stays on disk. Also ends an interrupted
        close()."""
        with self._close_lock:
            if self._forked or self._released:
                return
            self._closed = True
        for worker in (self._sender, self._uploader, self._checker, self.monitor, self.errors):
            if worker is not None:
                worker.stop_now()
        self.writer.close()
        if self._transport is not None:
            self._transport.close()
        self._release(remove=False)

    def _release(self, *, remove: bool) -> None:
        self._released = True
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)
        os.close(self._lock_fd)

    def detach_after_fork(self) -> None:
        """In a forked child: never write, send or delete anything of the parent's run."""
        self._forked = True
        self.writer.abandon()
        self.append = _refuse_in_child  # type: ignore[method-assign]
        self.append_snapshot = _refuse_snapshot_in_child

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def forked(self) -> bool:
        return self._forked


def _head_of(writer: _oplog.LogWriter) -> Callable[[], tuple[int, int]]:
    return lambda: writer.head


_child_warned = False


def _refuse_snapshot_in_child(rest: bytes) -> None:
    _refuse_in_child(_oplog.KIND_SNAPSHOT, rest)


def _refuse_in_child(kind: int, payload: bytes) -> None:
    global _child_warned
    if not _child_warned:
        _child_warned = True
        logger.warning(
            "A run created before os.fork() does not log from the child process (the parent "
            "owns it); create a new Run in the child. Data logged here is not kept."
        )
