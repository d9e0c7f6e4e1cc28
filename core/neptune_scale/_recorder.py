"""``Recorder``: the one object behind ``Run``'s logging calls. It validates, encodes and appends
to the run's durable log; nothing here waits on delivery.

``Run`` (the facade users hold), ``Attribute`` (``run["a/b"]``) and the console capture all log
through it, so validation, encoding and the invalid-value reports are the same whichever way a
value arrives, and none of them needs to know the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from neptune_scale import _files, wire
from neptune_scale import _validation as v
from neptune_scale._oplog import KIND_SNAPSHOT
from neptune_scale._pipeline import Pipeline
from neptune_scale._snapshots import SnapshotBuilder
from neptune_scale.exceptions import NeptuneUnableToLogData

__all__ = ["Recorder"]

logger = logging.getLogger("neptune")

_NO_STEP = object()  # equal to no step value, so the first step is always validated
_time_ns = time.time_ns
_fast_step_field = wire.fast_step_field
_SMALL_STEP_FIELDS = wire.SMALL_STEP_FIELDS
_STEP_FIELD_14BIT = wire.STEP_FIELD_14BIT
_STEP_FIELD_21BIT = wire.STEP_FIELD_21BIT
_timestamp_field = wire.timestamp_field


class Recorder:
    """Validates, encodes and appends the values of one run.

    ``pipeline`` is None for a disabled run and once the run is closed; calls then drop what
    they get (with one warning after close). Invalid values are reported through the pipeline's
    warning callback, or raised under ``NEPTUNE_LOG_FAILURE_ACTION=raise``.
    """

    def __init__(self, run_id: str, *, raise_invalid: bool) -> None:
        self.run_id = run_id
        self.pipeline: Pipeline | None = None
        self.closed = False
        self._warned_closed = False
        self._raise_invalid = raise_invalid
        self._builder = SnapshotBuilder(self.report_invalid)
        self._metric_encoders = self._builder.plans
        # (value, encoded field) pairs, each read and replaced as one attribute so threads
        # logging into the same run never mix one call's step with another's field.
        self._step_cache: tuple[object, bytes] = (_NO_STEP, b"")
        self._ts_cache: tuple[int, bytes] = (-1, b"")
        self._series_counters: dict[str, float | int] = {}

    def detach(self) -> Pipeline | None:
        """Stop recording (close, terminate): later calls drop their values."""
        pipeline, self.pipeline = self.pipeline, None
        self.closed = True
        return pipeline

    # -- metrics: the hot path ------------------------------------------------------------
    def log_metrics(
        self,
        data: Mapping[str, float | int],
        step: float | int,
        *,
        timestamp: datetime | None = None,
        preview: bool = False,
        preview_completion: float | None = None,
    ) -> None:
        """``Run.log_metrics`` (documented there), which each run binds to this method."""
        # Every line here costs on each training step (see benchmarks/client).
        cached = self._step_cache
        if step == cached[0]:
            step_field = cached[1]
        elif type(step) is int and 0 <= step < 0x200000:  # most loops: valid as they are
            # wire.fast_step_field, inlined: a call would cost ~3% of log_metrics.
            if step < 0x80:
                step_field = _SMALL_STEP_FIELDS[step]
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
        pipeline = self.pipeline
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
        tail = self._preview(preview, preview_completion) if preview or preview_completion else b""
        head = step_field + self._stamp(timestamp)
        return self._append_all(self._builder.metrics(data, head, tail))

    def _step_field(self, step: Any) -> bytes:
        step = v.check_step(step)
        field = _fast_step_field(step)
        self._step_cache = (step, field)
        return field

    # -- the other calls ------------------------------------------------------------------
    def configs(
        self, data: Mapping[str, Any] | None, flatten: bool, cast_unsupported: bool
    ) -> None:
        if data is None:
            return
        if flatten:
            data = _files.flatten(data)
        elif _files.is_dataclass_instance(data):
            data = _files.fields_of(data)
        else:
            data = _files.require_mapping(data, "data")
        head = self._stamp(None)
        self._append_all(self._builder.configs(data, head, cast_unsupported=cast_unsupported))

    def tags(self, tags: Iterable[str], group: bool, add: bool) -> None:
        try:
            valid = v.check_tags(tags)
        except Exception as e:  # a wrong type, or an iterable that fails while read
            self.report_invalid(f"{'add' if add else 'remove'}_tags: {e}; dropped")
            return
        path = "sys/group_tags" if group else "sys/tags"
        operation = 1 if add else 2  # SET_OPERATION ADD / REMOVE
        self._append_all(self._builder.tags(path, valid, operation, self._stamp(None)))

    def string_series(
        self, data: Mapping[str, str], step: float | int, timestamp: datetime | None
    ) -> None:
        head = self._step_field(step) + self._stamp(timestamp)
        self._append_all(self._builder.string_series(_files.require_mapping(data, "data"), head))

    def histograms(
        self, histograms: Mapping[str, Any], step: float | int, timestamp: datetime | None
    ) -> None:
        head = self._step_field(step) + self._stamp(timestamp)
        data = _files.require_mapping(histograms, "histograms")
        self._append_all(self._builder.histograms(data, head))

    def files(
        self, files: Mapping[str, Any], step: float | int | None, timestamp: datetime | None
    ) -> None:
        """Files as single values (``step`` None) or appended to file series at ``step``."""
        if step is not None:
            step = v.check_step(step)
        files = _files.require_mapping(files, "files")
        pipeline = self.pipeline
        if pipeline is None:
            return self._inactive()
        entries = _files.prepare(
            files, step, pipeline, self.run_id, self.report_invalid, self._builder
        )
        if not entries:
            return
        head = (b"" if step is None else _fast_step_field(step)) + self._stamp(timestamp)
        self._append_all(self._builder.entries_snapshots(head, entries))

    def next_series_step(self, path: str, step: float | int | None) -> float | int:
        """``step``, or the next integer after ``path``'s last one (0 first): what
        ``run[path].append(value)`` logs at."""
        if step is None:
            last = self._series_counters.get(path)
            step = 0 if last is None else int(last) + 1
        self._series_counters[path] = step
        return step

    def report_invalid(self, message: str) -> None:
        if self._raise_invalid:
            raise NeptuneUnableToLogData(message)
        if self.pipeline is not None:
            self.pipeline.report(NeptuneUnableToLogData(message))
        else:
            logger.warning("%s", message)

    # -- helpers --------------------------------------------------------------------------
    def _append_all(self, records: list[bytes]) -> None:
        pipeline = self.pipeline
        if pipeline is None:
            return self._inactive()
        for record in records:
            pipeline.append(KIND_SNAPSHOT, record)

    def _stamp(self, timestamp: datetime | None) -> bytes:
        if timestamp is None:
            ns = _time_ns()
            return _timestamp_field(ns // 1_000_000_000, ns % 1_000_000_000 // 1000 * 1000)
        return _timestamp_field(*v.timestamp_parts(timestamp))

    @staticmethod
    def _preview(preview: bool, completion: float | None) -> bytes:
        if completion is not None:
            if not isinstance(completion, (int, float)) or not 0.0 <= completion <= 1.0:
                raise ValueError(
                    f"preview_completion must be a float in [0, 1], got {completion!r}"
                )
            if not preview and completion != 1.0:
                raise ValueError("preview_completion needs preview=True")
        return wire.preview_field(completion) if preview else b""

    def _inactive(self) -> None:
        if self.closed and not self._warned_closed:
            self._warned_closed = True
            logger.warning("Run %r is closed; data logged after close() is not kept", self.run_id)
