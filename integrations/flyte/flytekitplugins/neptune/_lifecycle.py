"""Open a run for a task attempt, describe it, and finish it whatever happens in the task.

Everything after the run exists is best effort (the integration kit's ``Containment``): a tracking
problem is logged and counted, never raised into the task, and never replaces the task's own
result or exception.
"""

from __future__ import annotations

import functools
import logging
import os
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from neptune_scale import Run
    from neptune_scale.integrations import Containment

from ._deck import DECK_NAME, RunSummary, render_deck_html
from ._identity import AttemptIdentity
from ._options import TrackingOptions
from ._task_run import last_values, task_run_class

logger = logging.getLogger("flytekitplugins.neptune")
STRICT_ENV = "DESPINA_FLYTE_STRICT"

# Outside `flyte/`, which holds execution metadata that local runs skip; the outcome of the
# task is recorded in every run. (The HF callback uses `trainer/…` the same way.)
STATUS_PATH = "task/status"
ERROR_TYPE_PATH = "task/error/type"
ERROR_MESSAGE_PATH = "task/error/message"
ERROR_TRACEBACK_PATH = "task/error/traceback"
DESCRIPTION_PATH = "description"
INHERIT_CONFIGS_KWARG = "inherit_configs"
ERROR_PATHS = (ERROR_TYPE_PATH, ERROR_MESSAGE_PATH, ERROR_TRACEBACK_PATH)
STATUS_RUNNING, STATUS_SUCCEEDED, STATUS_FAILED = "running", "succeeded", "failed"
# The server keeps strings up to 64 KB (protocol §7.2); the tail of a traceback is what tells
# where it failed, so keep the last lines within a budget well under that limit.
TRACEBACK_TAIL_LINES = 40
MAX_ERROR_TEXT_CHARS = 16_000
LOG_DIRECTORY_ENV = "NEPTUNE_LOG_DIRECTORY"
DEFAULT_LOG_DIRECTORY = ".neptune"


def open_run(options: TrackingOptions, identity: AttemptIdentity, token: str | None) -> Run:
    """Construct the client run; errors here are configuration errors and do propagate."""
    kwargs: dict[str, Any] = dict(options.run_kwargs)
    kwargs.update(project=options.project, run_id=identity.run_id)
    if options.experiment_name is not None:
        kwargs["experiment_name"] = options.experiment_name
    if options.mode is not None:
        kwargs["mode"] = options.mode
    if token is not None:
        kwargs["api_token"] = token
    if identity.fork_run_id is not None:
        kwargs.update(fork_run_id=identity.fork_run_id, fork_step=options.retry_fork_step)
        # The retry runs the task again and logs its own configs; inheriting the failed
        # attempt's would show its error on a run that may succeed. Asked for explicitly,
        # inheritance is kept and `describe_run` blanks the inherited error instead.
        kwargs.setdefault(INHERIT_CONFIGS_KWARG, False)
        logger.info(
            "neptune: attempt %d forks %r at step %g: run %r shows its points up to that step "
            "and stores its own points after it (set retry_fork_step to where training resumes)",
            identity.attempt,
            identity.fork_run_id,
            options.retry_fork_step,
            identity.run_id,
        )
    return task_run_class()(**kwargs)


@functools.cache
def containment() -> Containment:
    """The integration kit's error containment (made on first use: importing stays light);
    ``DESPINA_FLYTE_STRICT=1`` re-raises instead (tests)."""
    from neptune_scale.integrations import Containment

    return Containment(logger, strict_env=STRICT_ENV, work="the task")


def _best_effort(what: str, action: Callable[[], Any]) -> Any:
    """``action()``, or None when it failed (logged and counted by :func:`containment`)."""
    with containment().contained(what):
        return action()
    return None


def describe_run(run: Run, options: TrackingOptions, identity: AttemptIdentity) -> None:
    """Tags, one group tag per execution, Flyte metadata (remote only), description, status."""
    if options.tags:
        _best_effort("add tags", lambda: run.add_tags(list(options.tags)))
    group_tags = [identity.group_tag, *options.group_tags]
    _best_effort("add group tags", lambda: run.add_tags(group_tags, group_tags=True))
    configs: dict[str, Any] = {STATUS_PATH: STATUS_RUNNING, **identity.metadata}
    if identity.fork_run_id is not None and options.run_kwargs.get(INHERIT_CONFIGS_KWARG):
        # Configs cannot be deleted: overwrite the error this fork may have inherited, so
        # that the run describes its own attempt (a failure writes its own error at the end).
        configs.update(dict.fromkeys(ERROR_PATHS, ""))
    if options.description is not None:
        configs[DESCRIPTION_PATH] = options.description
    _best_effort("log the Flyte metadata", lambda: run.log_configs(configs))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_TEXT_CHARS else "…" + text[-MAX_ERROR_TEXT_CHARS + 1 :]


def error_details(error: BaseException) -> dict[str, str]:
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    tail = "".join(lines).splitlines()[-TRACEBACK_TAIL_LINES:]
    return {
        ERROR_TYPE_PATH: f"{type(error).__module__}.{type(error).__qualname__}",
        ERROR_MESSAGE_PATH: _clip(str(error)),
        ERROR_TRACEBACK_PATH: _clip("\n".join(tail)),
    }


def run_url(run: Run, options: TrackingOptions, identity: AttemptIdentity) -> str | None:
    """The run's page: on the explicit `host` if one is configured, else the client's own URL
    (built from the token's `api_url`)."""
    if options.host:
        # Page layout of protocol §1.1, on the configured server.
        host = options.host.rstrip("/")
        return f"{host}/{options.project}/-/run/?customId={quote(identity.run_id)}"
    url = _best_effort("get the run URL", run.get_run_url)
    return url if isinstance(url, str) and url else None


def _local_hint(options: TrackingOptions) -> str:
    folder = options.run_kwargs.get("log_directory") or os.environ.get(LOG_DIRECTORY_ENV)
    folder = os.path.abspath(str(folder or DEFAULT_LOG_DIRECTORY))
    return (
        f"Stored in the embedded store at {folder}; look at it with `despina ui --store {folder}`."
    )


def _releaser(run: Run) -> Callable[[], None]:
    """The call that really ends the run (the injected run defers `close()` to us)."""
    release = getattr(run, "release", None)
    return release if callable(release) else run.close


def _deck(
    run: Run, options: TrackingOptions, identity: AttemptIdentity, outcome: dict[str, str]
) -> None:
    url = run_url(run, options, identity)
    summary = RunSummary(
        project=options.project,
        run_id=identity.run_id,
        url=url,
        status=outcome[STATUS_PATH],
        experiment_name=options.experiment_name,
        fork_run_id=identity.fork_run_id,
        error_type=outcome.get(ERROR_TYPE_PATH),
        error_message=outcome.get(ERROR_MESSAGE_PATH),
        local_hint=_local_hint(options) if identity.is_local and url is None else None,
    )
    from flytekit import Deck

    Deck(DECK_NAME, render_deck_html(summary, last_values(run)))


def finish_run(
    run: Run,
    options: TrackingOptions,
    identity: AttemptIdentity,
    error: BaseException | None,
) -> None:
    """Record the outcome, write the Deck, close the run; never raises."""
    outcome = {STATUS_PATH: STATUS_SUCCEEDED if error is None else STATUS_FAILED}
    if error is not None:
        details = _best_effort("describe the task's error", lambda: error_details(error))
        outcome.update(details or {ERROR_TYPE_PATH: type(error).__qualname__})
    _best_effort("record the task status", lambda: run.log_configs(outcome))
    if options.deck:
        _best_effort("write the Neptune Flyte Deck", lambda: _deck(run, options, identity, outcome))
    _best_effort("close the run", _releaser(run))
