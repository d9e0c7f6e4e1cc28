"""Dict-style access (``run["a/b"] = v``, ``run["m"].append(v)``), mapped onto the Run calls.

This is the neptune 2.x style the Flyte plugin's examples use; every operation goes to the run's
``Recorder``, as the ``log_*`` calls do, so validation and delivery are the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from neptune_scale._files import flatten
from neptune_scale._recorder import Recorder
from neptune_scale.types import File, Histogram

__all__ = ["Attribute"]


class Attribute:
    """A path inside a run; obtained from ``run[path]``."""

    def __init__(self, recorder: Recorder, path: str) -> None:
        if not isinstance(path, str) or not path:
            raise TypeError(f"attribute path must be a non-empty str, got {path!r}")
        self._recorder = recorder
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    def __getitem__(self, sub: str) -> Attribute:
        return Attribute(self._recorder, f"{self._path}/{sub}")

    def __setitem__(self, sub: str, value: Any) -> None:
        self[sub].assign(value)

    def assign(self, value: Any) -> None:
        """Set a value; a dict assigns every leaf under this namespace."""
        if isinstance(value, Mapping):
            leaves = flatten(value, f"{self._path}/")
            files = {k: val for k, val in leaves.items() if isinstance(val, File)}
            configs = {k: val for k, val in leaves.items() if not isinstance(val, File)}
            if configs:
                self._recorder.configs(configs, False, False)
            if files:
                self._recorder.files(files, None, None)
        elif isinstance(value, File):
            self._recorder.files({self._path: value}, None, None)
        else:
            self._recorder.configs({self._path: value}, False, False)

    def append(
        self,
        value: Any,
        step: float | int | None = None,
        timestamp: datetime | None = None,
        **_: Any,
    ) -> None:
        """Append to a series: numbers, strings, Histograms or Files. Without ``step``, the
        next integer after this path's last step is used (0 for the first)."""
        if isinstance(value, Mapping):
            for key, item in value.items():
                self[key].append(item, step=step, timestamp=timestamp)
            return
        recorder = self._recorder
        step = recorder.next_series_step(self._path, step)
        if isinstance(value, str):
            recorder.string_series({self._path: value}, step, timestamp)
        elif isinstance(value, Histogram):
            recorder.histograms({self._path: value}, step, timestamp)
        elif isinstance(value, File):
            recorder.files({self._path: value}, step, timestamp)
        else:
            recorder.log_metrics({self._path: value}, step, timestamp=timestamp)

    log = append

    def extend(
        self, values: Iterable[Any], steps: Iterable[float | int] | None = None, **_: Any
    ) -> None:
        items = list(values)
        step_list: list[float | int | None] = (
            list(steps) if steps is not None else [None] * len(items)
        )
        if len(step_list) != len(items):
            raise ValueError(f"extend: got {len(items)} values but {len(step_list)} steps")
        for item, step in zip(items, step_list, strict=True):
            self.append(item, step=step)

    def add(self, values: str | Iterable[str]) -> None:
        """Add tags (``run["sys/tags"].add(...)`` / ``"sys/group_tags"``)."""
        tags = [values] if isinstance(values, str) else list(values)
        if self._path not in ("sys/tags", "sys/group_tags"):
            raise ValueError(f"add() works on 'sys/tags' and 'sys/group_tags', not {self._path!r}")
        self._recorder.tags(tags, self._path == "sys/group_tags", True)

    def remove(self, values: str | Iterable[str]) -> None:
        tags = [values] if isinstance(values, str) else list(values)
        if self._path not in ("sys/tags", "sys/group_tags"):
            raise ValueError(
                f"remove() works on 'sys/tags' and 'sys/group_tags', not {self._path!r}"
            )
        self._recorder.tags(tags, self._path == "sys/group_tags", False)

    def upload(self, value: str | Path | bytes | File, **_: Any) -> None:
        """Store a file (a path, bytes or a File) under this path."""
        self._recorder.files(
            {self._path: value if isinstance(value, File) else File(value)}, None, None
        )

    def __repr__(self) -> str:
        return f"<Attribute {self._path!r} of run {self._recorder.run_id!r}>"
