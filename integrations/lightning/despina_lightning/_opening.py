"""Creating the ``neptune_scale.Run`` for a logger: plain, re-opened, or forked on resume."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from despina_lightning._resume import TrainerCall, fork_point_from_checkpoint
from despina_lightning._safety import log

if TYPE_CHECKING:
    from neptune_scale import Run

__all__ = ["Opened", "open_run"]


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
) -> Opened:
    """Create the run; ``reopen`` continues a run this logger opened in another process.

    ``named``: ``project``, ``api_token``, ``experiment_name`` (None values are left out).
    """
    from neptune_scale import Run

    kwargs = {k: v for k, v in named.items() if v is not None}
    kwargs.update(run_kwargs)
    if reopen:
        kwargs["resume"] = True
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
