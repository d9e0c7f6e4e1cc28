"""Creating the ``neptune_scale.Run`` for a logger: plain, re-opened, or forked on resume."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from despina_lightning._resume import TrainerCall, fork_point_from_checkpoint
from despina_lightning._safety import log

if TYPE_CHECKING:
    from neptune_scale import Run

__all__ = ["Opened", "close_quietly", "new_run_id", "open_run", "project_of"]

#: The client's namespace for console capture when none is given.
DEFAULT_RUNTIME_NAMESPACE = "runtime"
RUN_ID_PREFIX = "lightning-"


@dataclass(frozen=True)
class Opened:
    run: Run
    run_id: str
    #: Steps must be greater than this in every series (set for forks).
    fork_step: float | None


def open_run(
    run_id: str,
    named: dict[str, Any],
    run_kwargs: dict[str, Any],
    call: TrainerCall | None,
    reopen: bool,
    process: str = "main",
) -> Opened:
    """Create the run; ``reopen`` continues a run this logger opened in another process.

    ``named``: ``project``, ``api_token``, ``experiment_name`` (None values are left out).
    ``process``: names this process's console series when it reopens the run.
    """
    from neptune_scale import Run

    kwargs = {k: v for k, v in named.items() if v is not None}
    kwargs.update(run_kwargs)
    if reopen:
        kwargs["resume"] = True
        # The client numbers console lines from step 0 in every process; the run's console
        # series already hold the first process's lines, so each reopening process gets its own.
        base = kwargs.get("runtime_namespace") or DEFAULT_RUNTIME_NAMESPACE
        kwargs["runtime_namespace"] = f"{base}/{process}"
    elif call is not None and "fork_run_id" not in kwargs and not kwargs.get("resume"):
        fork = fork_point_from_checkpoint(call)
        project = kwargs.get("project")
        if fork is not None and fork.project and project and fork.project != project:
            log.warning(
                "Resuming from a checkpoint of run %s in project %s: a fork must stay in its "
                "project, so %s starts a new run",
                fork.run_id,
                fork.project,
                project,
            )
        elif fork is not None:
            if fork.run_id == run_id:
                # The script gave the same run id again; the fork needs an id of its own.
                run_id = f"{run_id}-resumed-{secrets.token_hex(3)}"
            kwargs.update(fork_run_id=fork.run_id, fork_step=fork.step)
            log.info("Resuming run %s from step %s as the fork %s", fork.run_id, fork.step, run_id)
    run = Run(run_id=run_id, **kwargs)
    fork_step = kwargs.get("fork_step")
    return Opened(run, run_id, float(fork_step) if fork_step is not None else None)


def new_run_id() -> str:
    return RUN_ID_PREFIX + secrets.token_hex(6)


def project_of(run: Any, default: str | None) -> str | None:
    project = getattr(run, "project", None)
    return project if isinstance(project, str) else default


def close_quietly(run: Any, diagnostics: Callable[[], dict[str, int]] | None = None) -> None:
    try:
        if diagnostics is not None and (counts := diagnostics()):
            run.log_configs(counts)
        run.close()
    except Exception:
        log.warning("Closing the Neptune run failed", exc_info=True)
