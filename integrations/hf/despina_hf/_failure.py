"""Recording a failed ``train()``: the Trainer has no exception hook, so we wrap ``train``.

``watch(trainer, on_failure)`` replaces the trainer *instance's* ``train`` attribute (never the
class) with a wrapper that reports any exception raised out of ``train()`` (including
``KeyboardInterrupt``) to ``on_failure`` and then re-raises it unchanged. The callback does this
itself in ``on_init_end`` by finding the Trainer that is calling it (it is the ``self`` of a
calling frame); ``NeptuneScaleCallback.watch(trainer)`` does it explicitly, for a callback added
with ``trainer.add_callback`` after construction; the callback also watches the Trainer from
``on_train_begin``, which covers every later ``train()``. The ``train()`` call already running
then cannot be wrapped: for it, the callback remembers that call's frame, and when the run is
closed while training never ended it looks for an exception that went through that frame where
Python still holds one (``sys.exc_info()`` inside an ``except``/``finally``, ``sys.last_exc`` /
``sys.last_value`` after an uncaught exception, at exit or in a notebook). Only when there is
none is the run marked failed with "train() did not finish".
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["ErrorDetails", "failure_of", "find_calling_trainer", "find_train_frame", "watch"]

# How far up the stack to look for the Trainer calling ``on_init_end`` (callback handler ->
# Trainer.__init__ is 3 frames, on_train_begin -> Trainer about 10; subclasses add a few).
MAX_FRAMES_TO_TRAINER = 20
# Error details stored in the run; a string attribute holds at most 64 KB.
MAX_MESSAGE_CHARS = 4_000
MAX_TRACEBACK_CHARS = 16_000

OnFailure = Callable[["ErrorDetails"], None]


class ErrorDetails:
    """Type, message and traceback tail of the exception that ended ``train()``."""

    def __init__(self, exc: BaseException) -> None:
        self.type = f"{type(exc).__module__}.{type(exc).__qualname__}"
        self.message = str(exc)[:MAX_MESSAGE_CHARS]
        tb = exc.__traceback__
        if tb is not None and tb.tb_frame.f_code is _WatchedTrain.__call__.__code__:
            tb = tb.tb_next  # our wrapper's frame says nothing about the failure
        text = "".join(traceback.format_exception(type(exc), exc, tb))
        self.traceback = text[-MAX_TRACEBACK_CHARS:]


class _WatchedTrain:
    """Stands in for a bound ``trainer.train``; picklable (no closure) so a pickled trainer
    still works."""

    def __init__(self, train: Callable[..., Any], on_failure: OnFailure) -> None:
        self.__wrapped__ = train
        self._on_failure = on_failure
        self.__doc__ = getattr(train, "__doc__", None)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.__wrapped__(*args, **kwargs)
        except BaseException as exc:
            self._on_failure(ErrorDetails(exc))
            raise


def watch(trainer: Any, on_failure: OnFailure) -> None:
    """Wrap ``trainer.train`` so an exception out of it reaches ``on_failure`` (idempotent per
    ``on_failure``)."""
    current = trainer.train
    probe = current
    while isinstance(probe, _WatchedTrain):
        if probe._on_failure == on_failure:
            return
        probe = probe.__wrapped__
    trainer.train = _WatchedTrain(current, on_failure)


def find_calling_trainer(trainer_type: type) -> Any | None:
    """The ``trainer_type`` instance whose method is on the current call stack, if any."""
    frame: FrameType | None = sys._getframe(1)
    for _ in range(MAX_FRAMES_TO_TRAINER):
        if frame is None:
            return None
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, trainer_type):
            return candidate
        frame = frame.f_back
    return None


def find_train_frame(trainer: Any) -> FrameType | None:
    """The frame of ``trainer.train()`` on the current call stack, if any."""
    frame: FrameType | None = sys._getframe(1)
    for _ in range(MAX_FRAMES_TO_TRAINER):
        if frame is None:
            return None
        if frame.f_code.co_name == "train" and frame.f_locals.get("self") is trainer:
            return frame
        frame = frame.f_back
    return None


def failure_of(frame: FrameType) -> ErrorDetails | None:
    """The exception that ended the call running in ``frame``, if Python still holds it.

    An exception qualifies only if its traceback passes through that very frame: an older
    failure (another ``train()`` call) or an unrelated one is never taken for this one."""
    held = (sys.exc_info()[1], getattr(sys, "last_exc", None), getattr(sys, "last_value", None))
    for exc in held:
        if isinstance(exc, BaseException) and _went_through(exc, frame):
            return ErrorDetails(exc)
    return None


def _went_through(exc: BaseException, frame: FrameType) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame is frame:
            return True
        tb = tb.tb_next
    return False
