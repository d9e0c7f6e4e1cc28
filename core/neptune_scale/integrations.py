"""The integration kit: what every framework integration needs, in one public, documented place.

Despina's own integrations (Flyte, Lightning, Hugging Face) use it, and so can third parties'.
Everything here is pure Python over the public ``Run``; nothing reaches into the client.

* :class:`StepGuard`: per-series step bookkeeping. A series point is stored only when its step
  is above the series' last one (and above the fork step of a forked run); frameworks log the same
  step more than once (``epoch`` on every call, an evaluation repeated after training), so points
  are sorted before they reach the run:

  - ``ACCEPT``: the step is above the series' last step (and the floor);
  - ``DUPLICATE``: the same step with the same value (NaN equals NaN): nothing new, nothing lost,
    dropped silently and not counted;
  - ``STALE``: any other point at or below the last step (or the floor): dropped, counted per
    series in :attr:`StepGuard.dropped`, and warned about **once per series** (a loop logging
    at a stale step would otherwise write a warning per call). Paths passed as ``quiet`` (points
    the caller stores elsewhere or expects to differ) are dropped without a warning or a count.

* :class:`Containment`: a tracking problem never breaks the training loop. ``with
  containment.contained("logging metrics"):`` logs the exception (with its traceback, on the
  integration's logger), counts it by action in :attr:`Containment.failures` and swallows it.
  ``strict`` (or the environment variable the integration names) re-raises instead, for tests.

* :func:`flatten`: nested configs to ``a/b/c`` paths (mappings, dataclass instances and
  ``argparse.Namespace`` nest; values are left as they are); :func:`config_value` turns one value
  into what a config attribute holds (bool, int, float, str, datetime kept; enums by value; a set
  of strings as a string set; ``None`` left out: an absent attribute says as much; lists, tuples
  and anything else as their text, so nothing is lost silently); :func:`flatten_configs` does
  both and keeps within the run's limits (text cut at 64 KiB, marked; longer paths skipped).
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import math
import os
from argparse import Namespace
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

__all__ = [
    "MAX_PATH_BYTES",
    "MAX_STRING_BYTES",
    "ConfigValue",
    "Containment",
    "StepGuard",
    "Verdict",
    "config_value",
    "flatten",
    "flatten_configs",
    "truncate_text",
]

ConfigValue = bool | int | float | str | datetime | list[str]
V = TypeVar("V", float, str)
#: Integer configs are int64 on the wire; larger ones are stored as text.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_TRUE = ("1", "true", "yes", "on")
#: The run refuses string attributes above 64 KiB and paths above 1024 bytes (ingest limits).
MAX_STRING_BYTES = 64 * 1024
MAX_PATH_BYTES = 1024
TRUNCATION_MARK = "…[truncated]"
_logger = logging.getLogger("neptune")


class Verdict(enum.Enum):
    ACCEPT = "accept"
    DUPLICATE = "duplicate"
    STALE = "stale"


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


class StepGuard:
    """The last (step, value) of every series; admits only points the run may store.

    ``floor``: every step must be above it (a forked run's fork step). ``logger`` gets the
    once-per-series warning; ``hint`` is added to it (what the user can do about it).
    """

    def __init__(
        self,
        floor: float | None = None,
        *,
        logger: logging.Logger | None = None,
        hint: str = "",
    ) -> None:
        self.floor = floor
        self._logger = logger or logging.getLogger("neptune")
        self._hint = hint
        self._last: dict[str, tuple[float, object]] = {}
        self._highest: float | None = floor
        self.dropped: Counter[str] = Counter()

    @property
    def last_step(self) -> float | None:
        """The highest step admitted in any series (or the floor); None before any."""
        return self._highest

    def admit(self, path: str, step: float, value: object, quiet: bool = False) -> Verdict:
        """The verdict on one point; an accepted point becomes the series' last."""
        last = self._last.get(path)
        if last is not None and step == last[0] and _same(value, last[1]):
            return Verdict.DUPLICATE
        limit = last[0] if last is not None else self.floor
        if limit is not None and step <= limit:
            if not quiet:
                self._drop(path, step, limit)
            return Verdict.STALE
        self._last[path] = (step, value)
        if self._highest is None or step > self._highest:
            self._highest = step
        return Verdict.ACCEPT

    def admit_all(
        self, values: Mapping[str, V], step: float, quiet: Collection[str] = ()
    ) -> dict[str, V]:
        """The points of ``values`` that may be logged at ``step`` (see :meth:`admit`)."""
        return {
            path: value
            for path, value in values.items()
            if self.admit(path, step, value, path in quiet) is Verdict.ACCEPT
        }

    def _drop(self, path: str, step: float, limit: float) -> None:
        if not self.dropped[path]:
            self._logger.warning(
                "Dropping %s at step %s: each series needs steps above its last one (%s) and "
                "above the fork step of a forked run; later such points of this series are "
                "dropped and counted without a warning%s",
                path,
                step,
                limit,
                f"; {self._hint}" if self._hint else "",
            )
        self.dropped[path] += 1

    def export(self) -> dict[str, Any]:
        """The guard's state, JSON-safe, for another process to :meth:`merge`."""
        last = {path: [step, value] for path, (step, value) in self._last.items()}
        return {"last": last, "highest": self._highest, "dropped": dict(self.dropped)}

    def merge(self, state: Mapping[str, Any]) -> None:
        """Take in what another process admitted: per series, the later of the two points."""
        for path, (step, value) in state.get("last", {}).items():
            mine = self._last.get(path)
            if mine is None or step > mine[0]:
                self._last[path] = (float(step), value)
        highest = state.get("highest")
        if highest is not None and (self._highest is None or highest > self._highest):
            self._highest = float(highest)
        for path, count in state.get("dropped", {}).items():
            # The other process started from this one's counts: its numbers include them.
            self.dropped[path] = max(self.dropped[path], int(count))


class Containment:
    """Runs tracking code so that its failures are logged and counted, never raised.

    ``strict_env``: an environment variable that, set to 1/true/yes/on, makes :attr:`strict`
    true from the start (tests of a process one does not control). ``work``: what goes on, in
    the warning ("training", "the task").
    """

    def __init__(
        self, logger: logging.Logger, strict_env: str | None = None, work: str = "training"
    ) -> None:
        self.logger = logger
        self._work = work
        self.strict = strict_env is not None and os.environ.get(strict_env, "").lower() in _TRUE
        #: Failures contained so far, by the action that failed.
        self.failures: Counter[str] = Counter()

    def set_strict(self, strict: bool) -> bool:
        """Re-raise contained errors when ``strict``; returns the previous setting (an
        integration exports this as its own ``set_strict``)."""
        previous, self.strict = self.strict, strict
        return previous

    @contextmanager
    def contained(self, action: str) -> Iterator[None]:
        """Run the block; an ``Exception`` in it is logged and counted (re-raised if strict).
        ``action`` says what was being done ("logging metrics"), for the log and the count."""
        try:
            yield
        except Exception:
            self.failures[action] += 1
            if self.strict:
                raise
            self.logger.warning(
                "Neptune tracking failed while %s; %s goes on", action, self._work, exc_info=True
            )


def _children(value: Any) -> Mapping[Any, Any] | None:
    if isinstance(value, Namespace):
        return vars(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return value
    return None


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"<prefix>/a/b": 1}``; values are not converted.

    Mappings, dataclass instances and ``argparse.Namespace`` nest. An empty nested mapping has no
    leaf and leaves no path. Raises TypeError when ``data`` itself does not nest."""
    children = _children(data)
    if children is None:
        raise TypeError(
            f"data must be a mapping, dataclass or Namespace, got {type(data).__name__}"
        )
    out: dict[str, Any] = {}
    for key, value in children.items():
        path = f"{prefix}/{key}" if prefix else str(key)
        if _children(value) is not None:
            out.update(flatten(value, path))
        else:
            out[path] = value
    return out


def config_value(value: Any) -> ConfigValue | None:
    """One value as a config attribute holds it; None for ``None`` (leave the attribute out)."""
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return config_value(value.value)
    if isinstance(value, bool | float | str | datetime):
        return value
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else str(value)
    if isinstance(value, set | frozenset) and all(isinstance(v, str) for v in value):
        return sorted(value)  # a string set
    item = getattr(value, "item", None)  # 0-d tensors and numpy scalars
    if callable(item) and getattr(value, "ndim", None) == 0:
        return config_value(item())
    if isinstance(value, os.PathLike):
        return os.fspath(value)  # type: ignore[no-any-return]
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}".lstrip(".")
    # Lists and tuples keep their order as text (a string set would lose it); anything else too.
    return str(value)


def truncate_text(text: str, limit: int = MAX_STRING_BYTES) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, the cut marked."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    keep = limit - len(TRUNCATION_MARK.encode("utf-8"))
    return data[:keep].decode("utf-8", errors="ignore") + TRUNCATION_MARK


def flatten_configs(data: Any, prefix: str = "") -> dict[str, ConfigValue]:
    """:func:`flatten`, then :func:`config_value` on each leaf: ``None`` leaves are left out,
    text above the string limit is cut (marked), a path above the path limit is skipped with a
    warning (the run would refuse both)."""
    out: dict[str, ConfigValue] = {}
    for path, value in flatten(data, prefix).items():
        converted = config_value(value)
        if converted is None:
            continue
        if len(path.encode("utf-8")) > MAX_PATH_BYTES:
            _logger.warning(
                "Config %.80s… skipped: its path exceeds %d bytes", path, MAX_PATH_BYTES
            )
            continue
        out[path] = truncate_text(converted) if isinstance(converted, str) else converted
    return out
