"""``Run``: the thin facade. Validate, stamp, append to the durable log, return."""

from __future__ import annotations

import atexit
import logging
import os
import sys
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from neptune_scale import _encoding as enc
from neptune_scale import _files, _modes
from neptune_scale import _validation as v
from neptune_scale._calls import LoggingCalls
from neptune_scale._errors import Callbacks
from neptune_scale._extras import Extras, SourceTrackingConfig, start_extras
from neptune_scale._log import setup_client_logger
from neptune_scale._oplog import KIND_CREATE
from neptune_scale._pipeline import Pipeline, run_folder
from neptune_scale._snapshots import SnapshotBuilder
from neptune_scale._system_metrics import resolve_interval
from neptune_scale.transport import Transport

if TYPE_CHECKING:
    pass

__all__ = ["Run"]

logger = logging.getLogger("neptune")

DEFAULT_MAX_QUEUE_SIZE = 1_000_000
ATEXIT_TIMEOUT_S = 60.0
MAX_STEP = v.MAX_STEP
DEFAULT_SOURCE_TRACKING = SourceTrackingConfig()
_NO_STEP = object()  # equal to no step value, so the first step is always validated
_STEP_FIELDS_7BIT = tuple(enc.step_field(i) for i in range(0x80))
# The step fields of integer steps below 2**14 and 2**21 (a 2- or 3-byte varint in
# Step.whole), built as one little-endian int: field tag, lengths and continuation bits, with
# the step's 7-bit groups shifted in at bytes 3-5 (see log_metrics).
_STEP_FIELD_14BIT = 0x0A | 0x03 << 8 | 0x08 << 16 | 0x80 << 24
_STEP_FIELD_21BIT = 0x0A | 0x04 << 8 | 0x08 << 16 | 0x80 << 24 | 0x80 << 32
_time_ns = time.time_ns
_step_field = enc.step_field
_timestamp_field = enc.timestamp_field


class Run(LoggingCalls):
    """A run: everything logged through it goes to one run of one project.

    Keyword arguments follow the official client (``run_id``, ``project``, ``api_token``,
    ``resume``, ``mode``, ``experiment_name``, ``creation_time``, ``fork_run_id`` + ``fork_step``,
    ``log_directory``, ``max_queue_size``, ``async_lag_threshold``, the callbacks,
    ``enable_console_log_capture``, ``runtime_namespace``, ``source_tracking_config``,
    ``inherit_configs``). ``system_metrics`` is Despina's own: True (every 10 s), a number of
    seconds, False, or None (the default: ``NEPTUNE_SYSTEM_METRICS`` decides, off when unset);
    see ``_system_metrics`` for what is sampled and where. ``transport`` is internal, for tests: a
    :class:`neptune_scale.transport.Transport` that replaces the one mode resolution picks.

    Raises ValueError/TypeError for invalid arguments; after construction, delivery problems go
    to the callbacks and never raise into the caller.
    """

    def __init__(
        self,
        *,
        run_id: str | None = None,
        project: str | None = None,
        api_token: str | None = None,
        resume: bool = False,
        mode: str | None = None,
        experiment_name: str | None = None,
        creation_time: datetime | None = None,
        fork_run_id: str | None = None,
        fork_step: int | float | None = None,
        log_directory: str | Path | None = None,
        max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
        async_lag_threshold: float | None = None,
        on_async_lag_callback: Callable[[], None] | None = None,
        on_queue_full_callback: Callable[[BaseException, float | None], None] | None = None,
        on_network_error_callback: Callable[[BaseException, float | None], None] | None = None,
        on_error_callback: Callable[[BaseException, float | None], None] | None = None,
        on_warning_callback: Callable[[BaseException, float | None], None] | None = None,
        enable_console_log_capture: bool = True,
        runtime_namespace: str | None = None,
        source_tracking_config: SourceTrackingConfig | None = DEFAULT_SOURCE_TRACKING,
        inherit_configs: bool = True,
        system_metrics: bool | float | None = None,
        transport: Transport | None = None,
    ) -> None:
        setup_client_logger()
        self._pipeline: Pipeline | None = None
        self._closed = False
        self._warned_closed = False
        # (value, encoded field) pairs, each read and replaced as one attribute so threads
        # logging into the same run never mix one call's step with another's field.
        self._step_cache: tuple[object, bytes] = (_NO_STEP, b"")
        self._ts_cache: tuple[int, bytes] = (-1, b"")
        self._series_counters: dict[str, float] = {}
        self._raise_invalid = os.environ.get("NEPTUNE_LOG_FAILURE_ACTION", "drop") == "raise"
        self._builder = SnapshotBuilder(self._report_invalid)
        self._metric_encoders = self._builder.plans
        fork = v.check_fork(fork_run_id, fork_step)
        if resume and fork is not None:
            raise ValueError(
                "resume=True continues an existing run; it cannot be combined "
                "with fork_run_id/fork_step"
            )
        if creation_time is not None:
            v.timestamp_parts(creation_time, "creation_time")
        if experiment_name is not None:
            v.check_name(experiment_name, "experiment_name", limit=v.MAX_EXPERIMENT_NAME_BYTES)
        if runtime_namespace is not None:
            v.check_name(runtime_namespace, "runtime_namespace", limit=v.MAX_NAMESPACE_BYTES)
        system_interval_s = resolve_interval(system_metrics)
        if not isinstance(max_queue_size, int) or max_queue_size < 1:
            raise ValueError(f"max_queue_size must be an int >= 1, got {max_queue_size!r}")
        if async_lag_threshold is not None and not async_lag_threshold > 0:
            raise ValueError(f"async_lag_threshold must be > 0 seconds, got {async_lag_threshold}")
        callbacks = Callbacks(
            on_error=v.check_callback(on_error_callback, "on_error_callback"),
            on_warning=v.check_callback(on_warning_callback, "on_warning_callback"),
            on_network_error=v.check_callback(
                on_network_error_callback, "on_network_error_callback"
            ),
            on_queue_full=v.check_callback(on_queue_full_callback, "on_queue_full_callback"),
            on_async_lag=v.check_callback(on_async_lag_callback, "on_async_lag_callback"),
        )
        dest = _modes.resolve(
            mode=mode, api_token=api_token, project=project, log_directory=log_directory
        )
        self._project = v.check_project(dest.project)
        self._run_id = v.check_name(
            run_id if run_id is not None else v.generate_run_id(),
            "run_id",
            limit=v.MAX_RUN_ID_BYTES,
            allow_slash=False,
        )
        self._destination = dest
        self._experiment_name = experiment_name
        self._fork = fork
        if dest.mode == "disabled":
            return
        injected = transport is not None
        if transport is None and dest.kind != "none":
            transport = _modes.make_transport(dest.kind, dest)
        if dest.mode == "offline":
            transport = None
        # Where this run's log goes, kept beside it: a store opened later delivers a log left
        # by a killed process only when it was meant for that (embedded) store.
        destination = "injected" if injected else dest.kind if transport is not None else "offline"
        self._start_pipeline(transport, callbacks, max_queue_size, async_lag_threshold, destination)
        if not resume:
            self._append_create(creation_time, inherit_configs)
        if not injected:
            self._announce(transport)
        self._extras: Extras | None = start_extras(
            self,
            console=enable_console_log_capture,
            namespace=runtime_namespace,
            source=source_tracking_config or False,
            system_interval_s=system_interval_s,
            resumed=resume,
        )
        atexit.register(_close_at_exit, weakref.ref(self))

    def _start_pipeline(
        self,
        transport: Transport | None,
        callbacks: Callbacks,
        max_queue_size: int,
        lag_threshold: float | None,
        destination: str,
    ) -> None:
        folder = run_folder(self._destination.log_directory, self._project, self._run_id)
        self._pipeline = Pipeline(
            folder, self._project, self._run_id, transport=transport, callbacks=callbacks,
            max_queue_size=max_queue_size, lag_threshold_s=lag_threshold,
            destination=destination,
        )  # fmt: skip
        if self._pipeline.recovered_ops:
            logger.info(
                "Found %d operations of run %r left by an earlier process in %s; "
                "delivering them first",
                self._pipeline.recovered_ops,
                self._run_id,
                self._pipeline.folder,
            )
        self._pipeline.start()

    def _append_create(self, creation_time: datetime | None, inherit_configs: bool) -> None:
        assert self._pipeline is not None
        created = creation_time or datetime.now().astimezone()
        fork = None if self._fork is None else (self._project, *self._fork)
        payload = enc.encode_create_run(
            family=self._run_id, creation_time=enc.datetime_parts(created),
            experiment_name=self._experiment_name, fork=fork,
            inherit_configs=bool(inherit_configs),
        )  # fmt: skip
        self._pipeline.append(KIND_CREATE, payload)
        self._pipeline.wake_sender()

    def _announce(self, transport: Transport | None) -> None:
        dest = self._destination
        if dest.kind == "local" and transport is not None:
            where = dest.log_directory.resolve()
            print(
                f"neptune: run {self._run_id!r} is logged into the embedded store in {where} "
                f"(project {self._project}); look at it with: despina ui --store {where}",
                file=sys.stderr,
            )

    # -- properties ---------------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        return self._run_id

    @property
    def project(self) -> str:
        return self._project

    @property
    def log_folder(self) -> Path | None:
        """The folder holding this run's durable operation log (None when disabled)."""
        return None if self._pipeline is None else self._pipeline.folder

    # -- logging ------------------------------------------------------------------------------
    def log_metrics(
        self,
        data: Mapping[str, float | int],
        step: float | int,
        *,
        timestamp: datetime | None = None,
        preview: bool = False,
        preview_completion: float | None = None,
    ) -> None:
        """Append one point per metric at ``step`` (0 <= step < 1e12, increasing per metric)."""
        # The hot path: every line here costs on each training step (see benchmarks/client).
        cached = self._step_cache
        if step == cached[0]:
            step_field = cached[1]
        elif type(step) is int and 0 < step < 0x200000:  # most loops: integer steps < 2M
            if step < 0x80:
                step_field = _STEP_FIELDS_7BIT[step]
            elif step < 0x4000:
                groups = (step & 0x7F) << 24 | (step & 0x3F80) << 25
                step_field = (_STEP_FIELD_14BIT | groups).to_bytes(5, "little")
            else:
                groups = (step & 0x7F) << 24 | (step & 0x3F80) << 25 | (step & 0x1FC000) << 26
                step_field = (_STEP_FIELD_21BIT | groups).to_bytes(6, "little")
        else:
            step_field = self._step_field(step)
        if type(data) is not dict and not isinstance(data, Mapping):
            raise TypeError(
                f"data must be a dict of metric name -> number, got {type(data).__name__}"
            )
        pipeline = self._pipeline
        if pipeline is None:
            return self._inactive()
        if timestamp is None and not preview and preview_completion is None:
            ms = _time_ns() // 1_000_000
            ts = self._ts_cache
            if ms != ts[0]:
                ts = self._ts_cache = (ms, _timestamp_field(ms // 1000, ms % 1000 * 1_000_000))
            encode = self._metric_encoders.get(tuple(data))
            if encode is None:
                encode = self._builder.metric_encoder(tuple(data))
            rest = encode(data, step_field + ts[1])
            if rest is not None:
                pipeline.append_snapshot(rest)
                return None
        return self._log_metrics_checked(data, step_field, timestamp, preview, preview_completion)

    def _log_metrics_checked(
        self,
        data: Mapping[str, Any],
        step_field: bytes,
        timestamp: datetime | None,
        preview: bool,
        preview_completion: float | None,
    ) -> None:
        """log_metrics beyond the fast path: explicit timestamps, previews, values to check."""
        tail = self._preview(preview, preview_completion) if preview or preview_completion else b""
        self._append_all(self._builder.metrics(data, step_field + self._stamp(timestamp), tail))

    # -- lifecycle ----------------------------------------------------------------------------
    def wait_for_submission(self, timeout: float | None = None, verbose: bool = True) -> bool:
        """Wait until everything logged so far was handed over; False on timeout."""
        self._flush_extras()
        if self._pipeline is None:
            return True
        return self._pipeline.wait(processed=False, timeout=timeout, verbose=verbose)

    def wait_for_processing(self, timeout: float | None = None, verbose: bool = True) -> bool:
        """Wait until everything logged so far is durable where it landed; False on timeout."""
        self._flush_extras()
        if self._pipeline is None:
            return True
        return self._pipeline.wait(processed=True, timeout=timeout, verbose=verbose)

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is pending (waiting at most ``timeout`` seconds) and end the run."""
        self._stop_extras()
        pipeline = self._pipeline
        if pipeline is None or self._closed:
            self._closed = True
            return
        self._closed = True
        self._pipeline = None
        if pipeline.forked:
            return  # the parent process owns the run
        try:
            delivered = pipeline.close(timeout, verbose=True)
        except KeyboardInterrupt:
            pipeline.terminate()
            print(
                f"neptune: interrupted; what was not delivered stays on disk: neptune sync "
                f"{pipeline.folder}",
                file=sys.stderr,
            )
            raise
        if not delivered and not pipeline.state.fatal and pipeline.pending_ops():
            print(
                f"neptune: {pipeline.pending_ops()} operations of run {self._run_id!r} are "
                f"kept in {pipeline.folder}; deliver them with: neptune sync "
                f"{pipeline.folder}",
                file=sys.stderr,
            )

    def terminate(self) -> None:
        """Stop at once (e.g. from an error callback); undelivered data stays on disk."""
        self._stop_extras()
        pipeline, self._pipeline = self._pipeline, None
        self._closed = True
        if pipeline is not None:
            pipeline.terminate()

    def stop(self) -> None:
        """Same as :meth:`close` (the neptune 2.x name)."""
        self.close()

    def get_run_url(self) -> str:
        """The run's page: on the server the token names, else in ``despina ui`` (default port)."""
        dest = self._destination
        base = _modes.api_url_from_token(dest.api_token) if dest.api_token else None
        if base is None:
            query = urlencode({"project": self._project, "run": self._run_id})
            return f"http://127.0.0.1:{_files.DEFAULT_UI_PORT}/run?{query}"
        return f"{base}/{self._project}/-/run/?customId={quote(self._run_id, safe='')}"

    def __repr__(self) -> str:
        state = "closed" if self._closed else self._destination.mode
        return f"<Run {self._run_id!r} of {self._project!r} ({state})>"

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _flush_extras(self) -> None:
        extras = getattr(self, "_extras", None)
        if extras is not None:
            extras.flush()

    def _stop_extras(self) -> None:
        extras = getattr(self, "_extras", None)
        if extras is not None:
            extras.stop()
            self._extras = None


def _close_at_exit(ref: weakref.ReferenceType[Run]) -> None:
    run = ref()
    pipeline = None if run is None else run._pipeline
    if run is None or pipeline is None or pipeline.closed or pipeline.forked:
        return
    pending = pipeline.pending_ops()
    if pending and pipeline.sending:
        print(
            f"neptune: run {run.run_id!r}: waiting up to {ATEXIT_TIMEOUT_S:.0f} s for "
            f"{pending} pending operations (Ctrl-C leaves them on disk)",
            file=sys.stderr,
        )
    try:
        run.close(timeout=ATEXIT_TIMEOUT_S)
    except KeyboardInterrupt:
        run.terminate()
        print(
            f"neptune: interrupted; deliver the rest with: neptune sync {pipeline.folder}",
            file=sys.stderr,
        )
