"""The run injected into a task: a `neptune_scale.Run` the decorator owns until the task ends.

Two additions, both on top of the client's public methods (the data goes through unchanged):

* It notes, in memory, the last value of every config and metric, for the Flyte Deck written
  when the task ends (the client only writes, and reading back from a remote server would need
  a second client and credentials).
* While the task runs, `close()` / `stop()` / leaving `with run:` only wait until everything
  logged so far is stored: the decorator still has to record the task's status, and anything
  the task logs afterwards must not be dropped. The decorator closes the run itself.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neptune_scale import Run

logger = logging.getLogger(__name__)

# The Deck is a summary, not a copy of the run: beyond this many attributes it says how many
# more there are and points to the run.
MAX_RECORDED_ATTRIBUTES = 500


@dataclass
class LastValues:
    """Last value per attribute path, thread-safe (tasks may log from worker threads).

    Metric values and steps are kept in two dicts so that the per-call work on the training hot
    path is two C-level `dict.update`s.
    """

    configs: dict[str, Any] = field(default_factory=dict)
    metric_values: dict[str, Any] = field(default_factory=dict)
    metric_steps: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def metrics(self) -> dict[str, tuple[Any, Any]]:
        """Path -> (last value, its step)."""
        with self._lock:
            return {p: (v, self.metric_steps[p]) for p, v in self.metric_values.items()}

    def _has_room(self, incoming: int) -> bool:
        return len(self.configs) + len(self.metric_values) + incoming <= MAX_RECORDED_ATTRIBUTES

    def _admit(self, known: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
        """The part of `data` that fits under the bound (known paths always do)."""
        admitted: dict[str, Any] = {}
        for path, value in data.items():
            if path in known or self._has_room(len(admitted) + 1):
                admitted[path] = value
            else:
                self.truncated = True
        return admitted

    def note_configs(self, data: Mapping[str, Any] | None, flatten: bool) -> None:
        if data:
            from neptune_scale.integrations import flatten as flatten_configs

            flat = flatten_configs(data) if flatten else data
            with self._lock:
                self.configs.update(
                    flat if self._has_room(len(flat)) else self._admit(self.configs, flat)
                )

    def note_metrics(self, data: Mapping[str, Any] | None, step: Any) -> None:
        if data:
            with self._lock:
                if not self._has_room(len(data)):
                    data = self._admit(self.metric_values, data)
                self.metric_values.update(data)
                self.metric_steps.update(dict.fromkeys(data, step))


def _define_task_run() -> type[Run]:
    from neptune_scale import Run

    class TaskRun(Run):
        """A `neptune_scale.Run` owned by the decorator (see the module docstring)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            # Set before the client starts: its constructor may already log (source info).
            self.flyte_last_values = LastValues()
            self._flyte_owned = True
            super().__init__(*args, **kwargs)

        def close(self, timeout: float | None = None) -> None:
            if not self._flyte_owned:
                super().close(timeout)
                return
            logger.info("neptune: the run is closed when the task ends; waiting for its data")
            self.wait_for_processing(timeout)

        def release(self, timeout: float | None = None) -> None:
            """Close for real: called by the decorator once the task's outcome is logged."""
            self._flyte_owned = False
            super().close(timeout)

        def log_configs(self, data: Any = None, *args: Any, **kwargs: Any) -> Any:
            result = super().log_configs(data, *args, **kwargs)
            flatten = kwargs.get("flatten", args[0] if args else False)
            try:
                self.flyte_last_values.note_configs(data, bool(flatten))
            except Exception:
                _noting_failed()
            return result

        def log_metrics(self, data: Any, step: Any = None, *args: Any, **kwargs: Any) -> Any:
            result = super().log_metrics(data, step, *args, **kwargs)
            try:
                self.flyte_last_values.note_metrics(data, step)
            except Exception:
                _noting_failed()
            return result

    return TaskRun


def _noting_failed() -> None:
    # Noting is a convenience for the Deck; a value it cannot read must never turn a
    # successful log call into an error in the user's task.
    logger.debug("neptune: could not note a logged value for the Flyte Deck", exc_info=True)


@functools.cache
def task_run_class() -> type[Run]:
    """The `neptune_scale.Run` subclass, defined on first use so importing stays light."""
    return _define_task_run()


def last_values(run: object) -> LastValues | None:
    values = getattr(run, "flyte_last_values", None)
    return values if isinstance(values, LastValues) else None
