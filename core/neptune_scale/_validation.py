"""Programmer errors, raised at the call site with the field and the limit (protocol §7.1)."""

from __future__ import annotations

import math
import operator
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from neptune_scale.wire import datetime_parts

__all__ = [
    "MAX_RUN_ID_BYTES",
    "MAX_STEP",
    "check_callback",
    "check_fork",
    "check_name",
    "check_project",
    "check_run_options",
    "check_step",
    "generate_run_id",
]

MAX_RUN_ID_BYTES = 730  # the official client's limit (its docs recommend ≤ 128)
MAX_EXPERIMENT_NAME_BYTES = 730
MAX_NAMESPACE_BYTES = 1000  # runtime_namespace: room for "/stdout" in a 1024-byte path
MAX_STEP = 1e12  # steps are 0 <= step < 1e12
# Times of points and runs: whole years inside pandas' datetime64[ns] range, so every reader can
# show them; 1678-01-01T00:00:00Z .. 2261-12-31T23:59:59Z (the store checks the same bounds).
MIN_TIMESTAMP_S = -9_214_560_000
MAX_TIMESTAMP_S = 9_214_646_399
NUL = "\x00"  # no name or string value may hold it (the store answers with an ingest code)

_ADJECTIVES = (
    "brave",
    "calm",
    "eager",
    "fair",
    "gentle",
    "keen",
    "lucid",
    "merry",
    "noble",
    "quick",
    "quiet",
    "sharp",
    "steady",
    "swift",
    "vivid",
    "witty",
)
_NOUNS = (
    "albatross",
    "badger",
    "crane",
    "dolphin",
    "falcon",
    "gecko",
    "heron",
    "ibis",
    "jaguar",
    "koala",
    "lynx",
    "marten",
    "otter",
    "puffin",
    "raven",
    "tern",
)


def generate_run_id() -> str:
    """A readable, unique run id such as ``swift-otter-3f9a1c2b``."""
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.token_hex(4)}"


def check_project(project: Any) -> str:
    if not isinstance(project, str):
        raise TypeError(f"project must be a str 'workspace/project', got {type(project).__name__}")
    workspace, slash, name = project.partition("/")
    if not slash or not workspace or not name or "/" in name:
        raise ValueError(
            f"project must have the form 'workspace/project' (exactly one '/'), got {project!r}"
        )
    if NUL in project:
        raise ValueError(f"project must not contain NUL characters ('\\x00'), got {project!r}")
    return project


def check_name(value: Any, field: str, *, limit: int, allow_slash: bool = True) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{field} must not be empty")
    size = len(value.encode("utf-8"))
    if size > limit:
        raise ValueError(f"{field} must be at most {limit} bytes in UTF-8, got {size}")
    if not allow_slash and "/" in value:
        raise ValueError(f"{field} must not contain '/', got {value!r}")
    if NUL in value:
        # PostgreSQL text cannot hold it, so a server would refuse the run for good.
        raise ValueError(f"{field} must not contain NUL characters ('\\x00'), got {value!r}")
    return value


def check_step(step: Any, field: str = "step") -> float | int:
    """A valid step (int or float, 0 <= step < 1e12); numpy scalars are converted."""
    kind = type(step)
    if kind is not int and kind is not float:
        if isinstance(step, bool) or step is None:
            raise TypeError(f"{field} must be an int or float, got {type(step).__name__}")
        try:
            step = operator.index(step)
        except TypeError:
            if not hasattr(step, "__float__") or isinstance(step, (str, bytes)):
                raise TypeError(
                    f"{field} must be an int or float, got {type(step).__name__}"
                ) from None
            step = float(step)
    if not 0 <= step < MAX_STEP:
        what = "NaN" if isinstance(step, float) and math.isnan(step) else repr(step)
        raise ValueError(f"{field} must satisfy 0 <= {field} < 1e12, got {what}")
    return step  # type: ignore[no-any-return]


def check_run_options(
    *,
    resume: bool,
    forked: bool,
    creation_time: datetime | None,
    experiment_name: str | None,
    runtime_namespace: str | None,
    max_queue_size: Any,
    async_lag_threshold: float | None,
) -> None:
    """``Run``'s other keyword arguments; ValueError/TypeError naming the one that is wrong."""
    if resume and forked:
        raise ValueError(
            "resume=True continues an existing run; it cannot be combined "
            "with fork_run_id/fork_step"
        )
    if creation_time is not None:
        timestamp_parts(creation_time, "creation_time")
    if experiment_name is not None:
        check_name(experiment_name, "experiment_name", limit=MAX_EXPERIMENT_NAME_BYTES)
    if runtime_namespace is not None:
        check_name(runtime_namespace, "runtime_namespace", limit=MAX_NAMESPACE_BYTES)
    if not isinstance(max_queue_size, int) or max_queue_size < 1:
        raise ValueError(f"max_queue_size must be an int >= 1, got {max_queue_size!r}")
    if async_lag_threshold is not None and not async_lag_threshold > 0:
        raise ValueError(f"async_lag_threshold must be > 0 seconds, got {async_lag_threshold}")


def check_fork(fork_run_id: Any, fork_step: Any) -> tuple[str, float | int] | None:
    if fork_run_id is None and fork_step is None:
        return None
    if fork_run_id is None or fork_step is None:
        raise ValueError("fork_run_id and fork_step must be given together (or neither)")
    run_id = check_name(fork_run_id, "fork_run_id", limit=MAX_RUN_ID_BYTES, allow_slash=False)
    return run_id, check_step(fork_step, "fork_step")


def check_callback(value: Any, field: str) -> Callable[..., Any] | None:
    if value is not None and not callable(value):
        raise TypeError(f"{field} must be callable or None, got {type(value).__name__}")
    return value  # type: ignore[no-any-return]


def check_timestamp(value: Any, field: str = "timestamp") -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{field} must be a datetime, got {type(value).__name__}")
    return value


def timestamp_parts(value: Any, field: str = "timestamp") -> tuple[int, int]:
    """``(seconds, nanos)`` of a datetime between the years 1678 and 2261 (what readers can show
    as pandas timestamps; a store refuses times outside with DATETIME_VALUE_OUT_OF_RANGE)."""
    try:
        seconds, nanos = datetime_parts(check_timestamp(value, field))
    except (OverflowError, ValueError, OSError):  # a naive datetime at the edge of local time
        seconds, nanos = MIN_TIMESTAMP_S - 1, 0
    if not MIN_TIMESTAMP_S <= seconds <= MAX_TIMESTAMP_S:
        raise ValueError(f"{field} must lie between the years 1678 and 2261 (UTC), got {value}")
    return seconds, nanos


def check_tags(tags: Any) -> list[str]:
    if isinstance(tags, str) or not isinstance(tags, (list, set, tuple, frozenset)):
        raise TypeError(f"tags must be a list, set or tuple of str, got {type(tags).__name__}")
    bad = [t for t in tags if not isinstance(t, str)]
    if bad:
        raise TypeError(f"every tag must be a str, got {type(bad[0]).__name__}")
    return list(tags)
