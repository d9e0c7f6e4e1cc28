"""Resuming from a checkpoint forks the run that wrote it.

Every checkpoint saved while the logger is attached carries the run's identity (a small callback
state, :class:`RunLink`). When ``trainer.fit(ckpt_path=...)`` resumes from such a checkpoint, the
new run is created as a fork of that run at the last step logged before the checkpoint, so the
charts continue where the checkpoint left off and the old run keeps what came after it.

Lightning reads ``logger.experiment`` inside ``Trainer._run`` before it restores the checkpoint,
and hands the logger no trainer. The only way to see ``trainer.ckpt_path`` in time to create the
run as a fork is to look for the trainer among the calling frames (:func:`calling_trainer`).
Without a trainer there (the run was created outside ``fit``), the run is simply not a fork.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from types import FrameType
from typing import Any

from lightning.pytorch import Callback, Trainer
from lightning.pytorch.trainer.states import TrainerFn

__all__ = [
    "ForkPoint",
    "RunLink",
    "TrainerCall",
    "attach",
    "calling_trainer",
    "fork_point_from_checkpoint",
    "trainer_of",
]

log = logging.getLogger("despina_lightning")

#: How far up the stack to look for the trainer (Lightning's own depth is ~4 frames).
MAX_FRAMES = 12
STATE_KEY = "despina_lightning.NeptuneScaleLogger"


@dataclass(frozen=True)
class ForkPoint:
    project: str | None
    run_id: str
    step: int


class RunLink(Callback):
    """Stores the logger's run identity in every checkpoint; holds no state of its own."""

    def __init__(self, identity: dict[str, str | None]) -> None:
        # Shared with the logger, so it is filled in once the run exists.
        self.identity = identity

    @property
    def state_key(self) -> str:
        return STATE_KEY

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.identity.items() if v is not None}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # The identity was already read when the run was created (see fork_point_from_checkpoint).
        pass


@dataclass(frozen=True)
class TrainerCall:
    """The trainer found on the stack and the checkpoint its ``_run`` was given (None if none)."""

    trainer: Trainer
    ckpt_path: str | None


def calling_trainer() -> TrainerCall | None:
    """The ``Trainer`` whose ``_run`` is on the call stack, with its ``ckpt_path`` argument.

    ``trainer.ckpt_path`` is only set once the checkpoint is being restored, after the run must
    already exist, so the argument of ``Trainer._run`` is read from its frame.
    """
    frame: FrameType | None = sys._getframe(1)
    found: Trainer | None = None
    for _ in range(MAX_FRAMES):
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        if isinstance(owner, Trainer) and "ckpt_path" in frame.f_locals:
            path = frame.f_locals["ckpt_path"]
            return TrainerCall(owner, str(path) if path else None)
        candidate = frame.f_locals.get("trainer", owner)
        if found is None and isinstance(candidate, Trainer):
            found = candidate
        frame = frame.f_back
    if found is None:
        return None
    return TrainerCall(found, str(found.ckpt_path) if found.ckpt_path else None)


def attach(trainer: Trainer, identity: dict[str, str | None]) -> None:
    """Add a :class:`RunLink` to the trainer's callbacks, once."""
    callbacks: list[Callback] = trainer.callbacks  # type: ignore[attr-defined]
    if not any(isinstance(cb, RunLink) for cb in callbacks):
        callbacks.append(RunLink(identity))


def fork_point_from_checkpoint(call: TrainerCall) -> ForkPoint | None:
    """The run and step to fork when the trainer is about to resume fitting from a checkpoint."""
    if call.trainer.state.fn != TrainerFn.FITTING or not call.ckpt_path:
        return None
    checkpoint = _load(call.ckpt_path)
    if checkpoint is None:
        return None
    identity = (checkpoint.get("callbacks") or {}).get(STATE_KEY) or {}
    if "run_id" not in identity:
        return None
    stepped = int(checkpoint.get("global_step", 0))
    if stepped <= 0:
        return None  # nothing was logged before this checkpoint: a fresh run is the same thing
    # The resumed loop logs its first metrics at the checkpoint's global step (also for
    # checkpoints saved mid-epoch), so the checkpointed run's points up to one below belong to
    # the history the fork continues.
    return ForkPoint(project=identity.get("project"), run_id=identity["run_id"], step=stepped - 1)


def _load(path: str) -> dict[str, Any] | None:
    import torch

    try:
        # mmap: the tensors are not read, only the small dictionaries around them.
        loaded = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception:
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            log.warning("Could not read %s to find the run it continues (%s)", path, exc)
            return None
    return loaded if isinstance(loaded, dict) else None


def trainer_of(model: Any) -> Trainer | None:
    try:
        trainer = model.trainer
    except (AttributeError, RuntimeError):  # RuntimeError: not attached to a Trainer
        return None
    return trainer if isinstance(trainer, Trainer) else None
