"""One run's upload pipeline: the durable log and the stages around it.

``Pipeline.append_snapshot`` is what the ``Run`` facade calls on the hot path (bound straight to
the log writer). Everything else — sending, status checks, msync, callbacks — runs in background
workers.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
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

from neptune_scale import _oplog
from neptune_scale._callbacks import Callbacks, ErrorRouter
from neptune_scale._monitor import Monitor
from neptune_scale._oplog import damage as _damage
from neptune_scale._oplog import read as _oplog_read
from neptune_scale._oplog.legacy import LegacyLogWriter
from neptune_scale._sender import PipelineState, Sender, StatusChecker
from neptune_scale._uploader import FileUploader
from neptune_scale.exceptions import NeptuneOperationLogDamaged
from neptune_scale.transport import Transport

__all__ = ["Pipeline", "read_destination", "run_folder", "write_destination", "writer_alive"]

logger = logging.getLogger("neptune")

PROGRESS_EVERY_S = 5.0  # verbose waits print progress this often
HOLDING_POLL_S = 0.1  # how often a wait looks whether records held in memory reached the log
MAX_NAME_PART = 64
LOCK_FILE = "lock"  # flock()ed by the process that owns the run folder
DESTINATION_FILE = "destination"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SIBLING = re.compile(r"\.\d+$")  # the suffix of a sibling folder (see _claim)

_Identity = tuple[str, str, bytes | None]  # project, run id, the create record's message

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


def write_destination(folder: Path, destination: str) -> None:
    """Note where the log goes: ``local`` (the embedded store of the log directory, which
    delivers a log left by a killed process when it is opened), ``http``, ``offline``..."""
    with contextlib.suppress(OSError):  # a full disk: the log is then only delivered by sync
        (folder / DESTINATION_FILE).write_text(destination, "utf-8")


def read_destination(folder: Path) -> str | None:
    try:
        return (folder / DESTINATION_FILE).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def writer_alive(folder: Path) -> bool:
    """True while a process holds the folder's lock (a live writer, or a sync delivering it)."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the lock taken just to test it
    return False


def _claim(folder: Path, exact: bool) -> tuple[Path, int]:
    """Lock the run folder, or a sibling if another live process holds it (unless ``exact``:
    then the folder is an existing log, which a process that delivered it may have removed
    since it was found)."""
    for attempt in range(1 if exact else 1000):
        candidate = folder if attempt == 0 else folder.with_name(f"{folder.name}.{attempt}")
        if not exact:
            candidate.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(candidate / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            raise RuntimeError(f"{folder} was removed (delivered by another process)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if exact and not _oplog.has_meta(candidate):
            os.close(fd)
            raise RuntimeError(f"{folder} was removed (delivered by another process)")
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
        destination: str | None = None,
    ) -> None:
        self.folder, self._lock_fd = _claim(folder, exact_folder)
        if destination is not None:
            write_destination(self.folder, destination)
        self.project = project
        self.run_id = run_id
        self.errors = ErrorRouter(callbacks)
        self.report = self.errors.report
        self.accept_damage = False  # set by ``sync --skip-damaged``: remove the folder anyway
        self.format = _oplog.FORMAT_VERSION
        acked, found, notes, identity = self._open_log()
        self.recovered_ops = found.records
        self.damage = _damage.record(self.folder, found.damage)
        writer = LegacyLogWriter if self.format == 2 else _oplog.LogWriter
        self.writer = writer(
            self.folder, *found[:3], found.slot, found.check, report=self.report, meta=identity
        )
        self.append_snapshot: Callable[[bytes], None] = self.writer.append_snapshot
        self.state = PipelineState(self.folder, acked)
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

    def _open_log(self) -> tuple[int, _oplog_read.LogScan, list[str], _Identity | None]:
        """(acked position, what the log holds, notes on a damaged identity, the identity the
        writer is to write: for a new log, or over a damaged copy). The writer writes it when
        the disk has room, and holds every record in memory until then."""
        identity = (self.project, self.run_id, None)
        if not _oplog.has_meta(self.folder):
            with contextlib.suppress(OSError):  # a full disk: file uploads make it when needed
                (self.folder / "blobs").mkdir(exist_ok=True)
            return 0, _oplog_read.LogScan(0, 0, ()), [], identity
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
        acked = _oplog.read_acked(self.folder)
        found = _oplog_read.recover(self.folder, acked, meta["create"])
        # A damaged or missing copy of the identity is written again (both copies).
        return acked, found, notes, (self.project, self.run_id, meta["create"]) if notes else None

    def _identity_from_name(self, error: ValueError) -> tuple[dict[str, Any], list[str]]:
        """Both copies of the identity are unreadable: the folder's name (a digest of project
        and run id) still tells whether it is this run's; if so the writer writes its identity
        again. Format 2 wrote no index files: a folder with segments and no index is format 2."""
        name = _SIBLING.sub("", self.folder.name)
        if name != run_folder(self.folder, self.project, self.run_id).name:
            raise error
        segments, indexes = self.folder.glob("ops-*.log"), self.folder.glob("ops-*.idx")
        legacy = any(True for _ in segments) and not any(True for _ in indexes)
        meta = {"format": 2 if legacy else 3, "project": self.project, "run_id": self.run_id}
        return {**meta, "create": None}, [f"{error}; written again from the run's folder name"]

    def append(self, kind: int, payload: bytes) -> None:
        """Append a record of any kind; the create record's message is also kept in meta.json
        (both copies), so a damaged create record can be rewritten from there."""
        if kind == _oplog.KIND_CREATE and not self._forked:
            self.writer.keep_identity(self.project, self.run_id, payload)
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
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        if self._sender is None:  # offline: on disk is where it lands
            while not self._wait_for_room(deadline):
                if verbose and time.monotonic() >= start + PROGRESS_EVERY_S:
                    start = time.monotonic()
                    self._progress(processed, start, start)
            self.writer.flush()
            return not self.writer.holding
        target = self.writer.position
        self.wake_sender()
        next_progress = start + PROGRESS_EVERY_S
        state = self.state
        held_back = False
        with state.cond:
            while True:
                reached = state.acked_position if processed else state.sent_position
                if self.writer.holding:  # a full disk: what it holds is not in the log yet
                    held_back = True
                elif held_back:  # now it is, before the log's end
                    target, held_back = max(target, self.writer.position), False
                if not held_back and reached >= target:
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
                if self.writer.holding:
                    limit = min(limit, HOLDING_POLL_S)
                if deadline is not None:
                    limit = min(limit, deadline - now)
                state.cond.wait(max(limit, 0.0))

    def _wait_for_room(self, deadline: float | None) -> bool:
        """True when nothing is held in memory any more, or at the deadline."""
        self.writer.retry(force=True)
        if not self.writer.holding or (deadline is not None and time.monotonic() >= deadline):
            return True
        time.sleep(HOLDING_POLL_S)
        return False

    def _progress(self, processed: bool, start: float, now: float) -> None:
        if self.writer.holding:
            logger.info(
                "Waiting for room on the disk for %s: %d operations are held in memory",
                self.folder,
                self.writer.held_ops,
            )
            return
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
