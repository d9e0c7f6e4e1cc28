"""Remember the last logged values of a run, for the Flyte Deck written when the task ends.

The client only writes, and reading back from a remote server would need a second client and
credentials; so the injected run is a `neptune_scale.Run` subclass that notes, in memory, the
last value of every config and metric it forwards. The data itself still goes through the
client's public methods unchanged.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
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
    """Last value per attribute path, thread-safe (tasks may log from worker threads)."""

    configs: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, tuple[float, Any]] = field(default_factory=dict)
    dropped: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _room_for(self, target: Mapping[str, Any], path: str) -> bool:
        if path in target or len(self.configs) + len(self.metrics) < MAX_RECORDED_ATTRIBUTES:
            return True
        self.dropped += 1
        return False

    def note_configs(self, data: Mapping[str, Any] | None, flatten: bool) -> None:
        if not data:
            return
        flat = _flatten(data) if flatten else dict(data)
        with self._lock:
            for path, value in flat.items():
                if isinstance(path, str) and self._room_for(self.configs, path):
                    self.configs[path] = value

    def note_metrics(self, data: Mapping[str, Any] | None, step: Any) -> None:
        if not data:
            return
        with self._lock:
            for path, value in data.items():
                if isinstance(path, str) and self._room_for(self.metrics, path):
                    self.metrics[path] = (value, step)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(_flatten(value, path))
        else:
            flat[path] = value
    return flat


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else None


def _define_recording_run() -> type[Run]:
    from neptune_scale import Run

    class RecordingRun(Run):
        """A `neptune_scale.Run` that also remembers last values for the task's Deck."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            # Set before the client starts: its constructor may already log (source info).
            self.flyte_last_values = LastValues()
            super().__init__(*args, **kwargs)

        def log_configs(self, *args: Any, **kwargs: Any) -> Any:
            result = super().log_configs(*args, **kwargs)
            data, flatten = _arg(args, kwargs, 0, "data"), _arg(args, kwargs, 1, "flatten")
            _note(lambda: self.flyte_last_values.note_configs(data, bool(flatten)))
            return result

        def log_metrics(self, *args: Any, **kwargs: Any) -> Any:
            result = super().log_metrics(*args, **kwargs)
            data, step = _arg(args, kwargs, 0, "data"), _arg(args, kwargs, 1, "step")
            _note(lambda: self.flyte_last_values.note_metrics(data, step))
            return result

    return RecordingRun


def _note(record: Callable[[], None]) -> None:
    # Recording is a convenience for the Deck; a value it cannot read must never turn a
    # successful log call into an error in the user's task.
    try:
        record()
    except Exception:
        logger.debug("neptune: could not note a logged value for the Flyte Deck", exc_info=True)


@functools.cache
def recording_run_class() -> type[Run]:
    """The `neptune_scale.Run` subclass, defined on first use so importing stays light."""
    return _define_recording_run()


def last_values(run: object) -> LastValues | None:
    values = getattr(run, "flyte_last_values", None)
    return values if isinstance(values, LastValues) else None
