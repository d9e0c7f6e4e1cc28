"""``NeptuneScaleCallback``: a ``transformers.TrainerCallback`` writing to a Neptune Scale run.

Lifecycle: the run is opened lazily by the first hook that has something to log (normally
``on_train_begin``), on the main process only, and stays open after ``on_train_end`` so that
``trainer.evaluate()`` and ``trainer.predict()`` land in it. It is closed by ``close()``, by the
next ``train()`` (which needs a fresh run: series cannot restart at step 0) or at interpreter exit.
A ``train()`` resumed from a checkpoint forks the run that wrote the checkpoint at the restored
step; each hyperparameter-search trial gets its own run (same experiment), all sharing one
group tag.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from transformers import Trainer, TrainerCallback
from transformers.trainer_callback import ExportableState

from . import _paths
from ._checkpoints import (
    CheckpointPolicy,
    CheckpointUploader,
    find_checkpoint_dir,
    staging_root,
)
from ._describe import describe_run, resumed_record
from ._events import log_event
from ._failure import ErrorDetails, failure_of, find_calling_trainer, find_train_frame, watch
from ._guard import contained
from ._optuna_link import link_trial
from ._session import (
    RunRecord,
    RunSession,
    adopt_run,
    base_of,
    derived_run_id,
    new_base_run_id,
    open_run,
)
from ._watch import WatchSpec

__all__ = ["NeptuneScaleCallback"]

logger = logging.getLogger("despina_hf")

# How long the exit hook waits for a run's data (as the client's own exit hook); the rest stays
# in the client's log for ``neptune sync``.
EXIT_TIMEOUT_S = 60.0
# Name under which a checkpoint's trainer_state.json remembers the run that wrote it (the Trainer
# also sets it as an attribute on a callback it restores).
CHECKPOINT_ATTRIBUTE = "_checkpoint_run"
# Run() keyword values that can be written into a checkpoint's trainer_state.json.
_JSON_SCALARS = (str, int, float, bool, type(None))


class NeptuneScaleCallback(TrainerCallback, ExportableState):
    """Log a ``transformers.Trainer`` to Neptune Scale (``neptune_scale.Run``).

    Use with ``TrainingArguments(report_to="none")`` and ``callbacks=[NeptuneScaleCallback()]``.

    Args:
        run_id: id of the first run (default: generated); later runs derive their ids from it.
        project: ``workspace/project`` (default: ``$NEPTUNE_PROJECT``, else the client's default).
        api_token: token for a server (default: ``$NEPTUNE_API_TOKEN``); never stored anywhere.
        experiment_name: experiment of the run (default: ``TrainingArguments.run_name``).
        run: an existing ``Run`` to use for the first training; the callback never closes it.
        log_checkpoints: ``"none"`` (default), ``"last"``, ``"best"`` (needs
            ``metric_for_best_model``) or ``"all"``.
        log_parameters: log TrainingArguments, model/PEFT config and parameter counts.
        tags, group_tags: added to every run the callback opens.
        description: stored as the ``description`` config of every run the callback opens.
        watch_model: ``"gradients"``, ``"parameters"`` or ``"all"``: per-parameter norms (float
            series) and histograms under ``model/watch/`` every ``watch_log_freq`` optimizer
            steps, and the module tree once per run (default ``None``: off).
        **run_kwargs: passed to ``Run`` (``mode``, ``log_directory``, ...).

    Raises ``ValueError`` at construction (bad ``log_checkpoints``) or at ``Trainer`` construction
    (``"best"`` without ``metric_for_best_model``); after that, tracking problems are logged,
    never raised into training.
    """

    def __init__(
        self,
        *,
        run_id: str | None = None,
        project: str | None = None,
        api_token: str | None = None,
        experiment_name: str | None = None,
        run: Any = None,
        log_checkpoints: str | CheckpointPolicy | None = "none",
        log_parameters: bool = True,
        tags: Iterable[str] = (),
        group_tags: Iterable[str] = (),
        description: str | None = None,
        watch_model: str | None = None,
        watch_log_freq: int = 100,
        **run_kwargs: Any,
    ) -> None:
        self._policy = CheckpointPolicy.parse(log_checkpoints)
        self._watch = None if watch_model is None else WatchSpec(watch_model, watch_log_freq)
        self._watcher: Any = None
        self._run_id = run_id
        self._project = project
        self._experiment_name = experiment_name
        self._log_parameters = log_parameters
        self._tags = list(tags)
        self._group_tags = list(group_tags)
        self._description = description
        self._run_kwargs = dict(run_kwargs)
        if api_token is not None:
            self._run_kwargs["api_token"] = api_token
        self._initial_run = run
        self._base_run_id = run_id or new_base_run_id()
        self._session: RunSession | None = None
        self._uploader = CheckpointUploader(
            self._policy, staging_root(self._run_kwargs), keep_copies=self._offline()
        )
        self._search_tag: str | None = None
        self._trials = 0
        self._checkpoint_run: dict[str, Any] | None = None
        self._exit_hook_registered = False
        self._opened = 0  # runs opened so far; only the first one takes ``run_id`` as given

    # ----- public -----------------------------------------------------------------------------

    @property
    def run(self) -> Any:
        """The run being written to, or ``None`` before the first hook opened one."""
        return None if self._session is None else self._session.run

    @classmethod
    def get_run(cls, trainer: Any) -> Any:
        """The run of the ``NeptuneScaleCallback`` among ``trainer``'s callbacks (as
        transformers' ``NeptuneCallback.get_run``); ``None`` before a run was opened.

        Raises ValueError when the trainer has no such callback."""
        for callback in trainer.callback_handler.callbacks:
            if isinstance(callback, cls):
                return callback.run
        raise ValueError("the trainer has no NeptuneScaleCallback among its callbacks")

    def watch(self, trainer: Any) -> None:
        """Record a failed ``trainer.train()`` as failed (done automatically when the callback is
        passed to the ``Trainer`` constructor; call it after ``trainer.add_callback(cb)``)."""
        watch(trainer, self._on_train_failed)

    def close(self, timeout: float | None = None) -> None:
        """Close the open run, waiting at most ``timeout`` seconds (None: until its data is
        delivered); a training that began but never ended is marked failed first. Safe to
        call twice."""
        session, self._session = self._session, None
        if session is None:
            return
        if session.training:
            found = None if session.train_frame is None else failure_of(session.train_frame)
            if found is None:
                self._mark_failed(session, "train() did not finish", "RuntimeError", "")
            else:
                self._mark_failed(session, found.message, found.type, found.traceback)
        delivered = False
        with contained("closing the run"):
            delivered = session.close(timeout)
        with contained("removing checkpoint copies"):
            self._uploader.release(delivered)

    def _offline(self) -> bool:
        mode = self._run_kwargs.get("mode") or os.environ.get("NEPTUNE_MODE")
        return mode == "offline"

    # ----- ExportableState: what a checkpoint remembers ---------------------------------------

    def state(self) -> dict[str, Any]:
        record = None if self._session is None else self._session.record.to_json()
        return {"args": self._checkpoint_args(), "attributes": {CHECKPOINT_ATTRIBUTE: record}}

    def _checkpoint_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "run_id": self._run_id,
            "project": self._project,
            "experiment_name": self._experiment_name,
            "log_checkpoints": self._policy.value,
            "log_parameters": self._log_parameters,
            "tags": self._tags,
            "group_tags": self._group_tags,
            "description": self._description,
            "watch_model": None if self._watch is None else self._watch.log,
            "watch_log_freq": 100 if self._watch is None else self._watch.log_freq,
        }
        for key, value in self._run_kwargs.items():
            if key != "api_token" and isinstance(value, _JSON_SCALARS):
                args[key] = value
        return args

    def __getstate__(self) -> dict[str, Any]:
        # A live run (threads, files) cannot travel to another process; it reopens there.
        data = dict(self.__dict__)
        data["_session"] = None
        data["_watcher"] = None
        data["_initial_run"] = None
        data["_exit_hook_registered"] = False
        return data

    # ----- Trainer hooks ---------------------------------------------------------------------

    def on_init_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._policy is CheckpointPolicy.BEST and not args.metric_for_best_model:
            raise ValueError(
                "NeptuneScaleCallback(log_checkpoints='best') needs "
                "TrainingArguments.metric_for_best_model (or load_best_model_at_end=True)"
            )
        trainer = find_calling_trainer(Trainer)
        if trainer is not None:
            self.watch(trainer)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # transformers (checked with 5.23) raises KeyError at the next checkpoint save when the
        # resumed checkpoint holds no state for a stateful callback: give it ours (all ranks).
        if isinstance(state.stateful_callbacks, dict):
            state.stateful_callbacks.setdefault(type(self).__name__, self.state())
        if not state.is_world_process_zero:
            return
        with contained("starting the run"):
            self._start_training(args, state, kwargs.get("model"))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        session = self._session
        if not state.is_world_process_zero or session is None or not session.training:
            return
        session.training = False
        session.train_frame = None
        with contained("recording the end of training"):
            session.run.log_configs({_paths.STATUS: "succeeded"})

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if state.is_world_process_zero and logs:
            with contained("logging metrics"):
                self._log(args, state, kwargs.get("model"), logs)

    def on_predict(
        self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any
    ) -> None:
        # predict() reports its metrics only here, never through on_log.
        if state.is_world_process_zero and metrics:
            with contained("logging prediction metrics"):
                self._log(args, state, kwargs.get("model"), metrics)

    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        session = self._session
        if self._watcher is None or session is None or not state.is_world_process_zero:
            return
        with contained("watching the model"):
            self._watcher.capture(session.run, WatchSpec.trainer_step(state))

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero or self._policy is CheckpointPolicy.NONE:
            return
        with contained("uploading the checkpoint"):
            self._upload_checkpoint(args, state, kwargs.get("model"))

    # ----- internals -------------------------------------------------------------------------

    def _start_training(self, args: Any, state: Any, model: Any) -> None:
        resume_from = resumed_record(state, type(self).__name__, CHECKPOINT_ATTRIBUTE)
        search = bool(state.is_hyper_param_search)
        session = self._session
        if session is not None and (session.trained or search or resume_from is not None):
            self.close()
            session = None
        if session is None:
            session = self._open(args, state, model, resume_from)
        session.trained = session.training = True
        self._watcher = None if self._watch is None else self._watch.watcher(model)
        session.run.log_configs({_paths.STATUS: "running"})
        trainer = find_calling_trainer(Trainer)
        if trainer is not None:
            # A callback added with add_callback() saw no on_init_end: watch from here on (later
            # train() calls), and keep this call's frame to find its exception (see _failure).
            self.watch(trainer)
            session.trainer = weakref.ref(trainer)
            session.train_frame = find_train_frame(trainer)

    def _open(self, args: Any, state: Any, model: Any, resume_from: RunRecord | None) -> RunSession:
        """Open the next run: the user's, a trial's, a fork of the checkpoint's run, or new."""
        search = bool(getattr(state, "is_hyper_param_search", False))
        experiment = self._experiment_name or getattr(args, "run_name", None) or None
        fork: tuple[str, int] | None = None
        project = self._project
        if self._initial_run is not None and resume_from is None and not search:
            session = adopt_run(self._initial_run, experiment)
            self._initial_run = None
        else:
            if resume_from is not None:
                fork = (resume_from.run_id, int(state.global_step))
                project = project or resume_from.project
                experiment = resume_from.experiment_name or experiment
                base = self._run_id or base_of(resume_from.run_id)
                run_id = derived_run_id(base, f"resume{state.global_step}")
            elif search:
                self._trials += 1
                run_id = derived_run_id(self._base_run_id, f"trial{self._trial_number()}")
            elif self._opened == 0:
                run_id = self._run_id or self._base_run_id
            else:
                run_id = derived_run_id(self._base_run_id, "train")
            session = open_run(
                self._run_kwargs,
                run_id=run_id,
                project=project,
                experiment_name=experiment,
                fork=fork,
            )
        session.trial = search
        if search:
            trial = getattr(find_calling_trainer(Trainer), "_trial", None)
            link_trial(trial, session.record.run_id, session.record.project)
        self._session = session
        self._opened += 1
        self._register_exit_hook()
        self._describe(session, args, state, model, fork)
        return session

    def _describe(
        self, session: RunSession, args: Any, state: Any, model: Any, fork: tuple[str, int] | None
    ) -> None:
        search = bool(getattr(state, "is_hyper_param_search", False))
        configs = describe_run(
            args,
            state,
            model,
            log_parameters=self._log_parameters,
            description=self._description,
            fork_step=None if fork is None else fork[1],
            trial_number=self._trial_number() if search else None,
        )
        session.run.log_configs(configs)
        group_tags = list(self._group_tags)
        if search:
            if self._search_tag is None:
                self._search_tag = f"hpo-{self._base_run_id}-{secrets.token_hex(2)}"
            group_tags.append(self._search_tag)
        if self._tags:
            session.run.add_tags(self._tags)
        if group_tags:
            session.run.add_tags(group_tags, group_tags=True)

    def _trial_number(self) -> int:
        """The search backend's trial number (optuna's ``trial.number``, as in the BestRun the
        search returns) when the Trainer holds a trial object, else our own count."""
        trainer = find_calling_trainer(Trainer)
        number = getattr(getattr(trainer, "_trial", None), "number", None)
        return number if isinstance(number, int) else self._trials

    def _ensure_session(self, args: Any, state: Any, model: Any) -> RunSession:
        if self._session is None:
            self._open(args, state, model, resume_from=None)
        assert self._session is not None
        return self._session

    def _log(self, args: Any, state: Any, model: Any, logs: Mapping[str, Any]) -> None:
        log_event(self._ensure_session(args, state, model), int(state.global_step), logs)

    def _upload_checkpoint(self, args: Any, state: Any, model: Any) -> None:
        step = int(state.global_step)
        folder = find_checkpoint_dir(args.output_dir, step, bool(state.is_hyper_param_search))
        if folder is None:
            logger.warning(
                "despina_hf: checkpoint of step %s not found under %s", step, args.output_dir
            )
            return
        best_step = getattr(state, "best_global_step", None)
        is_best = (
            best_step == step if best_step is not None else _names_checkpoint(state, folder.name)
        )
        session = self._ensure_session(args, state, model)
        self._uploader.upload(session.run, folder, step, (is_best, state.best_metric))

    def _on_train_failed(self, error: ErrorDetails) -> None:
        session = self._session
        if session is None or not session.training:
            # Failed before on_train_begin opened a run, or on a rank that does not log: the
            # exception reaches the caller anyway and there is no run to mark.
            logger.debug("despina_hf: train() failed (%s) with no training run open", error.type)
            return
        self._mark_failed(session, error.message, error.type, error.traceback)
        self.close()

    def _mark_failed(self, session: RunSession, message: str, error_type: str, tb: str) -> None:
        session.training = False
        with contained("recording the failure"):
            session.run.log_configs(
                {
                    _paths.STATUS: "failed",
                    _paths.ERROR_TYPE: error_type,
                    _paths.ERROR_MESSAGE: message,
                    _paths.ERROR_TRACEBACK: tb,
                }
            )

    def _register_exit_hook(self) -> None:
        # Registered after the first Run() exists, so (atexit being last-in, first-out) it runs
        # before the client's own exit handling. A weak reference keeps the callback collectable.
        if self._exit_hook_registered:
            return
        self._exit_hook_registered = True
        ref = weakref.ref(self)
        atexit.register(_close_at_exit, ref)


def _close_at_exit(ref: weakref.ref[NeptuneScaleCallback]) -> None:
    callback = ref()
    if callback is not None:
        callback.close(timeout=EXIT_TIMEOUT_S)


def _names_checkpoint(state: Any, name: str) -> bool:
    best = getattr(state, "best_model_checkpoint", None)
    return bool(best) and str(best).rstrip("/").endswith(name)
