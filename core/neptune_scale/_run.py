"""``Run``: the facade users hold. Its logging calls go to one ``Recorder`` (validate, encode,
append to the durable log, return); ``Run`` itself owns the run's lifecycle."""

from __future__ import annotations

import atexit
import logging
import os
import sys
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

from neptune_scale import _files, _modes
from neptune_scale import _validation as v
from neptune_scale import wire as enc
from neptune_scale._attribute import Attribute
from neptune_scale._callbacks import Callbacks
from neptune_scale._client_logger import setup_client_logger
from neptune_scale._extras import Extras, SourceTrackingConfig, start_extras
from neptune_scale._oplog import KIND_CREATE
from neptune_scale._pipeline import Pipeline, run_folder
from neptune_scale._recorder import Recorder
from neptune_scale._system_metrics import resolve_interval
from neptune_scale.token import api_url_of
from neptune_scale.transport import Transport
from neptune_scale.types import File

__all__ = ["Run"]

logger = logging.getLogger("neptune")

DEFAULT_MAX_QUEUE_SIZE = 1_000_000
ATEXIT_TIMEOUT_S = 60.0
DEFAULT_SOURCE_TRACKING = SourceTrackingConfig()


class Run:
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
        self._closed = False
        self._extras: Extras | None = None
        fork = v.check_fork(fork_run_id, fork_step)
        v.check_run_options(
            resume=resume, forked=fork is not None, creation_time=creation_time,
            experiment_name=experiment_name, runtime_namespace=runtime_namespace,
            max_queue_size=max_queue_size, async_lag_threshold=async_lag_threshold,
        )  # fmt: skip
        system_interval_s = resolve_interval(system_metrics)
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
        raise_invalid = os.environ.get("NEPTUNE_LOG_FAILURE_ACTION", "drop") == "raise"
        self._recorder = Recorder(self._run_id, raise_invalid=raise_invalid)
        # The hot path skips this facade's frame (~5% of a call): the instance attribute wins
        # over the method below, which documents the call and serves calls through the class.
        # Not when a subclass overrides it (Flyte's task run notes the values it logs) or the
        # method was replaced: their log_metrics must be the one called.
        if type(self).log_metrics is _FACADE_LOG_METRICS:
            self.log_metrics = self._recorder.log_metrics  # type: ignore[method-assign]
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
        self._extras = start_extras(
            self._recorder,
            console=enable_console_log_capture,
            namespace=runtime_namespace,
            source=source_tracking_config or False,
            first_step=0.0 if fork is None else float(fork[1]),
            forked=fork is not None,
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
        pipeline = self._recorder.pipeline = Pipeline(
            folder, self._project, self._run_id, transport=transport, callbacks=callbacks,
            max_queue_size=max_queue_size, lag_threshold_s=lag_threshold,
            destination=destination,
        )  # fmt: skip
        if pipeline.recovered_ops:
            logger.info(
                "Found %d operations of run %r left by an earlier process in %s; "
                "delivering them first",
                pipeline.recovered_ops,
                self._run_id,
                pipeline.folder,
            )
        pipeline.start()

    def _append_create(self, creation_time: datetime | None, inherit_configs: bool) -> None:
        pipeline = self._recorder.pipeline
        assert pipeline is not None
        created = creation_time or datetime.now().astimezone()
        fork = None if self._fork is None else (self._project, *self._fork)
        payload = enc.encode_create_run(
            family=self._run_id, creation_time=enc.datetime_parts(created),
            experiment_name=self._experiment_name, fork=fork,
            inherit_configs=bool(inherit_configs),
        )  # fmt: skip
        pipeline.append(KIND_CREATE, payload)
        pipeline.wake_sender()

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
        pipeline = self._recorder.pipeline
        return None if pipeline is None else pipeline.folder

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
        """Append one point per metric at ``step`` (0 <= step < 1e12, increasing per metric).

        Values are numbers: ints, floats, or what ``float()`` converts (numpy and torch
        scalars; numeric strings, as the official client); anything else is dropped and
        reported (``on_warning_callback``, or raised under ``NEPTUNE_LOG_FAILURE_ACTION=raise``).
        """
        return self._recorder.log_metrics(
            data, step, timestamp=timestamp, preview=preview, preview_completion=preview_completion
        )

    def log_configs(
        self,
        data: Mapping[str, Any] | None = None,
        flatten: bool = False,
        cast_unsupported: bool = False,
    ) -> None:
        """Assign single values (float, bool, int, str, datetime, list/set/tuple of str).

        ``flatten`` joins nested dicts and dataclasses into ``a/b`` paths (a dataclass as
        ``data`` is always taken field by field); ``cast_unsupported`` stores other values as
        ``str(value)`` instead of dropping them.
        """
        self._recorder.configs(data, flatten, cast_unsupported)

    def log(
        self,
        step: float | int | None = None,
        timestamp: datetime | None = None,
        configs: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float | int] | None = None,
        tags_add: Mapping[str, Iterable[str]] | None = None,
        tags_remove: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        """The official client's deprecated all-in-one call, mapped onto the others
        (``tags_add``/``tags_remove`` map ``sys/tags`` or ``sys/group_tags`` to tags)."""
        if configs:
            self.log_configs(configs)
        if metrics:
            if step is None:
                raise ValueError("log(metrics=...) needs a step")
            self.log_metrics(metrics, step, timestamp=timestamp)
        for changes, add in ((tags_add, True), (tags_remove, False)):
            for path, tags in (changes or {}).items():
                self._recorder.tags(tags, path == "sys/group_tags", add)

    def add_tags(self, tags: Iterable[str], group_tags: bool = False) -> None:
        self._recorder.tags(tags, group_tags, True)

    def remove_tags(self, tags: Iterable[str], group_tags: bool = False) -> None:
        self._recorder.tags(tags, group_tags, False)

    def log_string_series(
        self, data: Mapping[str, str], step: float | int, *, timestamp: datetime | None = None
    ) -> None:
        self._recorder.string_series(data, step, timestamp)

    def log_histograms(
        self,
        histograms: Mapping[str, Any],
        step: float | int,
        *,
        timestamp: datetime | None = None,
    ) -> None:
        self._recorder.histograms(histograms, step, timestamp)

    def assign_files(self, files: Mapping[str, str | Path | bytes | File]) -> None:
        """Store files as single values; paths must exist, bytes are kept until uploaded."""
        self._recorder.files(files, None, None)

    def log_files(
        self,
        files: Mapping[str, str | Path | bytes | File],
        step: float | int,
        *,
        timestamp: datetime | None = None,
    ) -> None:
        """Append files to file series at ``step``."""
        self._recorder.files(files, step, timestamp)

    # -- dict-style access --------------------------------------------------------------------
    def __getitem__(self, path: str) -> Attribute:
        return Attribute(self._recorder, path)

    def __setitem__(self, path: str, value: Any) -> None:
        self[path].assign(value)

    # -- lifecycle ----------------------------------------------------------------------------
    def wait_for_submission(self, timeout: float | None = None, verbose: bool = True) -> bool:
        """Wait until everything logged so far was handed over; False on timeout."""
        self._flush_extras()
        pipeline = self._recorder.pipeline
        if pipeline is None:
            return True
        return pipeline.wait(processed=False, timeout=timeout, verbose=verbose)

    def wait_for_processing(self, timeout: float | None = None, verbose: bool = True) -> bool:
        """Wait until everything logged so far is durable where it landed; False on timeout."""
        self._flush_extras()
        pipeline = self._recorder.pipeline
        if pipeline is None:
            return True
        return pipeline.wait(processed=True, timeout=timeout, verbose=verbose)

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is pending (waiting at most ``timeout`` seconds) and end the run."""
        self._stop_extras()
        already = self._closed
        self._closed = True
        pipeline = self._recorder.detach()
        if pipeline is None or already:
            return
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
        self._closed = True
        pipeline = self._recorder.detach()
        if pipeline is not None:
            pipeline.terminate()

    def stop(self) -> None:
        """Same as :meth:`close` (the neptune 2.x name)."""
        self.close()

    def get_run_url(self) -> str:
        """The run's page: on the server the token names, else in ``despina ui`` (default port)."""
        dest = self._destination
        base = api_url_of(dest.api_token)
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
        if self._extras is not None:
            self._extras.flush()

    def _stop_extras(self) -> None:
        extras, self._extras = self._extras, None
        if extras is not None:
            extras.stop()


_FACADE_LOG_METRICS = Run.log_metrics


def _close_at_exit(ref: weakref.ReferenceType[Run]) -> None:
    run = ref()
    pipeline = None if run is None else run._recorder.pipeline
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
