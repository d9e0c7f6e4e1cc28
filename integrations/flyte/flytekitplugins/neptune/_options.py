"""What a decorated task was configured with, validated once at decoration time.

Both public decorators (`neptune_init_run`, the seed's legacy-looking name, and
`neptune_scale_run`, upstream's Scale name) end up here: they differ only in which keyword
names they accept, so each translates its keywords into one `TrackingOptions`.
Bad configuration is a programmer error at the call site, so it raises here, before any task
runs, with the name of the offending argument.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias, Union

from flytekit import Secret

SecretSource: TypeAlias = Union[Secret, Callable[[], str], None]  # noqa: UP007 (runtime alias)

logger = logging.getLogger(__name__)

# Neptune documents custom run ids as at most 128 bytes; the decorator appends the execution
# identity to a fixed prefix, so the prefix itself must leave room for it.
MAX_RUN_ID_PREFIX_BYTES = 64
# Legacy (neptune 2.x) modes and what they mean for a Scale run.
LEGACY_MODES = {"async": "async", "sync": "async", "offline": "offline", "debug": "disabled"}
SCALE_MODES = ("async", "offline", "disabled")
# neptune 2.x `init_run` arguments that have no Scale equivalent: accepted so that old task code
# keeps working, reported once as ignored.
IGNORED_LEGACY_KWARGS = frozenset(
    {
        "capture_stdout",
        "capture_stderr",
        "capture_hardware_metrics",
        "capture_traceback",
        "fail_on_exception",
        "source_files",
        "dependencies",
        "git_ref",
        "flush_period",
        "proxies",
        "monitoring_namespace",
        "enable_remote_signals",
        "async_lag_threshold",
        "async_lag_callback",
        "async_no_progress_threshold",
        "async_no_progress_callback",
    }
)
# Arguments the decorator sets itself; passing them would break the execution-derived identity.
RESERVED_RUN_KWARGS = frozenset({"run_id", "project", "api_token", "fork_run_id", "fork_step"})


@dataclass(frozen=True)
class TrackingOptions:
    """Everything the decorator needs to open, enrich and close one run per task attempt."""

    project: str
    secret: SecretSource
    link_type: str
    host: str | None = None
    run_id_prefix: str | None = None
    experiment_name: str | None = None
    tags: tuple[str, ...] = ()
    group_tags: tuple[str, ...] = ()
    description: str | None = None
    mode: str | None = None
    fork_on_retry: bool = True
    # None: a retry is a fresh run (it restarts at step 0, which a fork could not store: a
    # fork's own points must come after the fork step). A number: the step the task resumes
    # after (from a checkpoint); the retry forks the failed attempt there.
    retry_fork_step: float | None = None
    deck: bool = True
    run_kwargs: Mapping[str, Any] = field(default_factory=dict)


def validate_project(project: object) -> str:
    if not isinstance(project, str) or project.count("/") != 1 or "" in project.split("/"):
        raise ValueError(
            f"project must be 'workspace/project' (one '/', both parts non-empty), got {project!r}"
        )
    return project


def validate_secret(secret: object) -> SecretSource:
    if secret is None or isinstance(secret, Secret) or callable(secret):
        return secret
    raise TypeError(
        "secret must be a flytekit.Secret, a zero-argument callable returning the API token, "
        f"or None (then NEPTUNE_API_TOKEN is used); got {type(secret).__name__}"
    )


def _string_tuple(name: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise TypeError(f"{name} must be a string or a list/tuple/set of strings, got {value!r}")


def _optional_str(name: str, value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{name} must be a string, got {type(value).__name__}")


def _run_id_prefix(value: object) -> str | None:
    prefix = _optional_str("run_id", value)
    if prefix is None:
        return None
    if not prefix or "/" in prefix or len(prefix.encode()) > MAX_RUN_ID_PREFIX_BYTES:
        raise ValueError(
            f"run_id must be non-empty, without '/', at most {MAX_RUN_ID_PREFIX_BYTES} UTF-8 "
            f"bytes (the execution identity is appended to it); got {prefix!r}"
        )
    return prefix


def _mode(value: object, *, legacy: bool) -> str | None:
    if value is None:
        return None
    allowed = tuple(LEGACY_MODES) if legacy else SCALE_MODES
    if value not in allowed:
        raise ValueError(f"mode must be one of {allowed}, got {value!r}")
    return LEGACY_MODES[value] if legacy else str(value)


def _run_kwargs(kwargs: dict[str, Any], run_parameters: Iterable[str] | None) -> dict[str, Any]:
    """Keep what `neptune_scale.Run` accepts; report legacy no-ops; refuse the rest."""
    passed: dict[str, Any] = {}
    ignored = sorted(name for name in kwargs if name in IGNORED_LEGACY_KWARGS)
    if ignored:
        warnings.warn(
            f"neptune: ignoring neptune 2.x arguments with no Neptune Scale equivalent: {ignored}",
            UserWarning,
            stacklevel=4,
        )
    accepted = set(run_parameters) if run_parameters is not None else None
    for name, value in kwargs.items():
        if name in IGNORED_LEGACY_KWARGS:
            continue
        if name in RESERVED_RUN_KWARGS:
            raise TypeError(
                f"{name!r} is set by the decorator from the Flyte execution and cannot be passed"
            )
        if accepted is not None and name not in accepted:
            raise TypeError(f"unknown argument {name!r}: neptune_scale.Run does not accept it")
        passed[name] = value
    return passed


def run_parameters() -> list[str] | None:
    """Names `neptune_scale.Run` accepts, or None when they cannot be read (then pass all)."""
    try:
        from neptune_scale import Run
    except ImportError:  # the client is part of this distribution; only a broken install lands here
        return None
    params = inspect.signature(Run.__init__).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.name != "self"]


def _retry_fork_step(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"retry_fork_step must be a number or None, got {value!r}")
    if not 0 <= value < 1e12:
        raise ValueError(f"retry_fork_step must be in [0, 1e12), got {value!r}")
    return float(value)


def build_options(
    *,
    project: object,
    secret: object,
    link_type: str,
    legacy: bool,
    run_id: object = None,
    experiment_name: object = None,
    host: object = None,
    kwargs: dict[str, Any],
) -> TrackingOptions:
    """Validate decorator arguments into `TrackingOptions`; raises ValueError/TypeError."""
    kwargs = dict(kwargs)
    retry_fork_step = _retry_fork_step(kwargs.pop("retry_fork_step", None))
    return TrackingOptions(
        project=validate_project(project),
        secret=validate_secret(secret),
        link_type=link_type,
        host=_optional_str("host", host),
        run_id_prefix=_run_id_prefix(run_id),
        experiment_name=_optional_str("experiment_name", experiment_name),
        tags=_string_tuple("tags", kwargs.pop("tags", None)),
        group_tags=_string_tuple("group_tags", kwargs.pop("group_tags", None)),
        description=_optional_str("description", kwargs.pop("description", None)),
        mode=_mode(kwargs.pop("mode", None), legacy=legacy),
        fork_on_retry=bool(kwargs.pop("fork_on_retry", True)),
        retry_fork_step=retry_fork_step,
        deck=bool(kwargs.pop("deck", True)),
        run_kwargs=_run_kwargs(kwargs, run_parameters()),
    )
