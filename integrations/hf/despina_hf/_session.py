"""One run the callback writes to: how it is opened (new, trial, fork) and closed.

A run id is generated unless the user gave one; every further run of the same callback (a
hyperparameter trial, a resumed training, a second ``train()``) gets a new id derived from it,
because a run's series cannot go back to step 0.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from neptune_scale.integrations import StepGuard

__all__ = ["RunRecord", "RunSession", "adopt_run", "base_of", "derived_run_id", "open_run"]

logger = logging.getLogger("despina_hf")

# Neptune documents run ids up to 128 bytes; derived ids are cut to stay within it.
MAX_RUN_ID_BYTES = 128
RANDOM_SUFFIX_BYTES = 3  # 6 hex characters: enough to keep a retry of the same resume apart


@dataclass(frozen=True)
class RunRecord:
    """What a checkpoint remembers about the run that wrote it (JSON-safe; no secrets)."""

    run_id: str
    project: str | None
    experiment_name: str | None

    def to_json(self) -> dict[str, str | None]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> RunRecord | None:
        if not isinstance(data, dict) or not isinstance(data.get("run_id"), str):
            return None
        return cls(data["run_id"], data.get("project"), data.get("experiment_name"))


@dataclass
class RunSession:
    """An open run plus what the callback tracks about it."""

    run: Any
    record: RunRecord
    guard: StepGuard
    owned: bool  # opened by the callback (so the callback closes it)
    trained: bool = False  # a train() began in this run
    training: bool = False  # ... and has neither ended nor failed yet
    trial: bool = False  # a hyperparameter-search trial's run
    # The Trainer training into this run (weak: the callback must not keep it alive) and, while
    # it trains, the frame of its train() call (to find that call's exception; see _failure).
    trainer: Any = None
    train_frame: Any = None

    def close(self, timeout: float | None) -> bool:
        """Wait (at most ``timeout`` seconds, None = until done) for the run's data and close
        the run if it is ours; True when the run confirmed that everything (checkpoint uploads
        included) was processed."""
        delivered = self.run.wait_for_processing(timeout=timeout, verbose=False) is True
        if self.owned:
            # What is still undelivered stays in the client's log for ``neptune sync``.
            if timeout is None:
                self.run.close()
            else:
                self.run.close(timeout=0)
        return delivered


def derived_run_id(base: str, label: str) -> str:
    """``<base>-<label>-<random>``, cut to ``MAX_RUN_ID_BYTES``."""
    suffix = f"-{label}-{secrets.token_hex(RANDOM_SUFFIX_BYTES)}"
    room = MAX_RUN_ID_BYTES - len(suffix.encode())
    head = base.encode()[:room].decode(errors="ignore")
    return head + suffix


def new_base_run_id() -> str:
    return f"hf-{secrets.token_hex(6)}"


def open_run(
    run_kwargs: dict[str, Any],
    *,
    run_id: str,
    project: str | None,
    experiment_name: str | None,
    fork: tuple[str, int] | None = None,
) -> RunSession:
    """Construct a ``neptune_scale.Run`` (imported here so the package imports without it)."""
    from neptune_scale import Run

    kwargs = dict(run_kwargs)
    kwargs["run_id"] = run_id
    if project is not None:
        kwargs["project"] = project
    if experiment_name is not None:
        kwargs["experiment_name"] = experiment_name
    if fork is not None:
        kwargs["fork_run_id"], kwargs["fork_step"] = fork
    run = Run(**kwargs)
    record = RunRecord(run_id, _run_project(run, project), experiment_name)
    guard = StepGuard(floor=None if fork is None else float(fork[1]), logger=logger)
    return RunSession(run=run, record=record, guard=guard, owned=True)


def adopt_run(run: Any, experiment_name: str | None) -> RunSession:
    """A run the user created and passed in: used, never closed by the callback."""
    record = RunRecord(str(run.run_id), _run_project(run, None), experiment_name)
    return RunSession(run=run, record=record, guard=StepGuard(logger=logger), owned=False)


def _run_project(run: Any, asked: str | None) -> str | None:
    """The project the run went to (the client resolves the default when none was asked for)."""
    project = getattr(run, "project", None)
    if isinstance(project, str):
        return project
    return asked or os.environ.get("NEPTUNE_PROJECT")


# Suffix of an id made by ``derived_run_id`` (``-resume12-a1b2c3``, ``-trial3-...``, ``-train-...``)
_DERIVED_SUFFIX = re.compile(r"-(?:resume\d+|trial\d+|train)-[0-9a-f]{6}$")


def base_of(run_id: str) -> str:
    """The id a derived id was made from (resuming a resumed run does not stack suffixes)."""
    while True:
        stripped = _DERIVED_SUFFIX.sub("", run_id)
        if stripped == run_id:
            return run_id
        run_id = stripped
