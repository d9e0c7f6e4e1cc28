"""The logging calls of ``Run`` other than the hot path (``log_metrics`` lives in ``_run``).

A mixin, so the facade stays one class for users while each module stays small.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from neptune_scale import _files
from neptune_scale import _validation as v
from neptune_scale import wire as enc
from neptune_scale._oplog import KIND_SNAPSHOT
from neptune_scale._snapshots import SnapshotBuilder
from neptune_scale.exceptions import NeptuneUnableToLogData

if TYPE_CHECKING:
    from neptune_scale._attribute import Attribute
    from neptune_scale._pipeline import Pipeline
    from neptune_scale._run import Run
    from neptune_scale.types import File

__all__ = ["LoggingCalls"]

logger = logging.getLogger("neptune")

_step_field = enc.step_field
_timestamp_field = enc.timestamp_field
_time_ns = time.time_ns


class LoggingCalls:
    """Everything here validates, encodes and appends; nothing waits on delivery."""

    _builder: SnapshotBuilder
    _pipeline: Pipeline | None
    _run_id: str
    _closed: bool
    _warned_closed: bool
    _raise_invalid: bool
    _series_counters: dict[str, float | int]
    _step_cache: tuple[object, bytes]

    if TYPE_CHECKING:

        def log_metrics(
            self,
            data: Mapping[str, float | int],
            step: float | int,
            *,
            timestamp: datetime | None = None,
            preview: bool = False,
            preview_completion: float | None = None,
        ) -> None: ...

    def _step_field(self, step: Any) -> bytes:
        step = v.check_step(step)
        field = enc.fast_step_field(step)
        self._step_cache = (step, field)
        return field

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
        if data is None:
            return
        if flatten:
            data = _files.flatten(data)
        elif _files.is_dataclass_instance(data):
            data = _files.fields_of(data)
        else:
            data = _files.require_mapping(data, "data")
        self._append_all(
            self._builder.configs(data, self._stamp(None), cast_unsupported=cast_unsupported)
        )

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
                group = path == "sys/group_tags"
                (self.add_tags if add else self.remove_tags)(tags, group_tags=group)

    def add_tags(self, tags: Iterable[str], group_tags: bool = False) -> None:
        self._modify_tags(tags, group_tags, 1)

    def remove_tags(self, tags: Iterable[str], group_tags: bool = False) -> None:
        self._modify_tags(tags, group_tags, 2)

    def _modify_tags(self, tags: Iterable[str], group: bool, operation: int) -> None:
        try:
            valid = v.check_tags(tags)
        except Exception as e:  # a wrong type, or an iterable that fails while read
            self._report_invalid(f"{'add' if operation == 1 else 'remove'}_tags: {e}; dropped")
            return
        path = "sys/group_tags" if group else "sys/tags"
        self._append_all(self._builder.tags(path, valid, operation, self._stamp(None)))

    def log_string_series(
        self, data: Mapping[str, str], step: float | int, *, timestamp: datetime | None = None
    ) -> None:
        head = self._step_field(step) + self._stamp(timestamp)
        self._append_all(self._builder.string_series(_files.require_mapping(data, "data"), head))

    def log_histograms(
        self,
        histograms: Mapping[str, Any],
        step: float | int,
        *,
        timestamp: datetime | None = None,
    ) -> None:
        head = self._step_field(step) + self._stamp(timestamp)
        data = _files.require_mapping(histograms, "histograms")
        self._append_all(self._builder.histograms(data, head))

    def assign_files(self, files: Mapping[str, str | Path | bytes | File]) -> None:
        """Store files as single values; paths must exist, bytes are kept until uploaded."""
        self._log_files(files, None, None)

    def log_files(
        self,
        files: Mapping[str, str | Path | bytes | File],
        step: float | int,
        *,
        timestamp: datetime | None = None,
    ) -> None:
        """Append files to file series at ``step``."""
        self._log_files(files, v.check_step(step), timestamp)

    def _log_files(
        self, files: Mapping[str, Any], step: float | int | None, timestamp: datetime | None
    ) -> None:
        files = _files.require_mapping(files, "files")
        pipeline = self._pipeline
        if pipeline is None:
            return self._inactive()
        entries = _files.prepare(
            files, step, pipeline, self._run_id, self._report_invalid, self._builder
        )
        if not entries:
            return
        head = (b"" if step is None else _step_field(step)) + self._stamp(timestamp)
        self._append_all(self._builder.entries_snapshots(head, entries))

    def _append_all(self, records: list[bytes]) -> None:
        pipeline = self._pipeline
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
        return enc.preview_field(completion) if preview else b""

    def _report_invalid(self, message: str) -> None:
        if self._raise_invalid:
            raise NeptuneUnableToLogData(message)
        if self._pipeline is not None:
            self._pipeline.report(NeptuneUnableToLogData(message))
        else:
            logger.warning("%s", message)

    def _inactive(self) -> None:
        if self._closed and not self._warned_closed:
            self._warned_closed = True
            logger.warning("Run %r is closed; data logged after close() is not kept", self._run_id)

    # -- dict-style access --------------------------------------------------------------------
    def __getitem__(self, path: str) -> Attribute:
        from neptune_scale._attribute import Attribute

        return Attribute(cast("Run", self), path)

    def __setitem__(self, path: str, value: Any) -> None:
        self[path].assign(value)

    def _next_series_step(self, path: str, step: float | int | None) -> float | int:
        if step is None:
            last = self._series_counters.get(path)
            step = 0 if last is None else int(last) + 1
        self._series_counters[path] = step
        return step
