"""``NeptuneScaleLogger``: a Lightning logger that writes to a Neptune Scale run.

Layout of what it writes (``<prefix>`` defaults to ``training``):

* ``<prefix>/hyperparams/...`` — flattened hyperparameters (module and datamodule), types kept.
* ``<prefix>/<metric>`` — metrics, one ``log_metrics`` call per Lightning logging call.
* ``<prefix>/status`` — ``running`` while a stage runs, then ``succeeded`` or ``failed`` (the
  words the other integrations use; Lightning's other statuses, e.g. ``finished`` after a signal,
  are kept as they are); on failure also ``<prefix>/error/{type,message,traceback}``.
* ``<prefix>/model/...`` — summary, parameter counts, checkpoints (see ``_checkpoints``).
* ``<prefix>/diagnostics/...`` — counts of points that could not be stored, when there were any.
* ``system/...`` — the client's system metrics when ``system_metrics`` is on (``neptune_scale``
  samples them; see the README).
* ``description`` and ``sys/tags`` / ``sys/group_tags`` from the constructor.
"""

from __future__ import annotations

import atexit
import sys
import threading
import weakref
from argparse import Namespace
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch import Trainer
from lightning.pytorch.loggers.logger import Logger
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_only

from despina_lightning._checkpoints import CheckpointRecorder, resolve_policy
from despina_lightning._handoff import (
    new_handoff_path,
    read_handoff,
    remove_handoff,
    write_handoff,
)
from despina_lightning._metrics import MetricBatcher
from despina_lightning._opening import close_quietly, new_run_id, project_of
from despina_lightning._resume import TrainerCall, attach, calling_trainer, trainer_of
from despina_lightning._safety import contained, log
from despina_lightning._values import error_configs, flatten_params, string_list, truncate_text
from despina_lightning._watch import start_watch, stop_watch

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule
    from lightning.pytorch.callbacks import ModelCheckpoint
    from neptune_scale import Run

__all__ = ["NeptuneScaleLogger"]

DESCRIPTION_PATH = "description"
#: How long ``finalize`` waits for the run's data to be stored before training goes on.
FINALIZE_FLUSH_TIMEOUT_S = 120.0
STATUS_RUNNING = "running"
#: Lightning's finalize statuses in the vocabulary the Flyte and HF integrations write.
STATUS_WORDS = {"success": "succeeded", "failed": "failed"}


class NeptuneScaleLogger(Logger):
    """Log a Lightning training to a Neptune Scale run (Despina's embedded store or a server).

    Accepts the parameters of the neptune-ai fork's ``NeptuneScaleLogger`` so migrating code keeps
    working. The run is created lazily, on rank 0 only, and stays open after ``fit`` so that
    ``validate``/``test``/``predict`` land in the same run; it is closed by :meth:`close` or at
    interpreter exit. Pass ``run`` to log into a run you own (it is never closed here).

    ``log_model_checkpoints``: ``True`` (= ``"best"``), ``False`` (= ``"none"``) or one of
    ``"none"``, ``"paths"``, ``"best"``, ``"last"``, ``"all"``.
    ``neptune_run_kwargs`` go to ``neptune_scale.Run`` (``mode``, ``fork_run_id``, ...).

    Raises ``ValueError``/``TypeError`` here for contradictory or malformed arguments; once the
    run exists, tracking failures are logged (logger ``despina_lightning``), never raised.
    """

    LOGGER_JOIN_CHAR = "/"
    PARAMETERS_KEY = "hyperparams"

    def __init__(
        self,
        *,
        run_id: str | None = None,
        project: str | None = None,
        api_token: str | None = None,
        experiment_name: str | None = None,
        run: Run | None = None,
        prefix: str = "training",
        log_model_checkpoints: bool | str | None = True,
        tags: Iterable[str] | None = None,
        group_tags: Iterable[str] | None = None,
        description: str | None = None,
        system_metrics: bool | float | None = None,
        system_metrics_interval_s: float | None = None,
        **neptune_run_kwargs: Any,
    ) -> None:
        super().__init__()
        given = {"run_id": run_id, "project": project, "api_token": api_token}
        given["experiment_name"] = experiment_name
        conflicting = [k for k, v in given.items() if v is not None] + list(neptune_run_kwargs)
        if run is not None and conflicting:
            raise ValueError(
                f"Pass either run= or the parameters to create one, not both: {conflicting}"
            )
        if system_metrics is True and system_metrics_interval_s is not None:
            system_metrics = system_metrics_interval_s  # the interval, in the client's terms
        if system_metrics is not None:
            if run is not None:
                raise ValueError("system_metrics is a setting of the run: pass it to Run(...)")
            neptune_run_kwargs = {**neptune_run_kwargs, "system_metrics": system_metrics}
        given_id = getattr(run, "run_id", None) if run is not None else None
        self._run_id = run_id or (given_id if isinstance(given_id, str) else new_run_id())
        self._project = project
        self._api_token = api_token
        self._experiment_name = experiment_name
        self._run_kwargs = neptune_run_kwargs
        self._prefix = prefix.strip("/")
        self._tags = string_list("tags", tags)
        self._group_tags = string_list("group_tags", group_tags)
        self._description = description
        self._checkpoints = CheckpointRecorder(
            resolve_policy(log_model_checkpoints), self._path("model")
        )
        # Shared with the RunLink callback, which writes it into every checkpoint.
        self._identity: dict[str, str | None] = {"run_id": None, "project": project}
        self._metrics = MetricBatcher(self._path("diagnostics"))
        self._summary_logged = False
        self._run: Run | None = run
        self._owns_run = run is None
        self._opened_in_another_process = False
        self._pending_metadata = run is not None
        # ddp_spawn copies (see _handoff): the file they hand their state back through, whether
        # this is such a copy, and how many copies this process made (each copy's number).
        self._handoff: str | None = None
        self._is_copy = False
        self._copy_number = 0
        self._init_handles()

    def _init_handles(self) -> None:
        self._lock = threading.RLock()
        self._closer: weakref.finalize[Any, Any] | None = None
        self._handoff_remover: weakref.finalize[Any, Any] | None = None
        # The Trainer running the current stage (to tell fit from validate/test/predict).
        self._trainer_ref: weakref.ref[Trainer] | None = None

    # ----------------------------------------------------------------- Logger contract

    @property
    def name(self) -> str | None:
        """The experiment name given to the run (None when there is none)."""
        return self._experiment_name

    @property
    def version(self) -> str:
        """The run id (a fork made on resume gets a new one)."""
        return self._run_id

    @property
    def run_id(self) -> str:
        return self._run_id

    @property
    @rank_zero_experiment
    def experiment(self) -> Run:
        """The ``neptune_scale.Run``, created on first use (rank 0 only)."""
        with self._lock:
            if self._run is None:
                self._create_run(calling_trainer())
            elif self._pending_metadata:
                self._adopt()
            assert self._run is not None
            return self._run

    @property
    def run(self) -> Run:
        """Alias of :attr:`experiment`, as in the fork."""
        return self.experiment  # type: ignore[no-any-return]

    @rank_zero_only
    def log_hyperparams(
        self, params: Mapping[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        configs = flatten_params(params, self._path(self.PARAMETERS_KEY))
        if configs:
            with contained("logging hyperparameters"):
                self.experiment.log_configs(configs)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | float | None = None) -> None:
        with contained("logging metrics"), self._lock:
            run = self.experiment
            prepared = self._metrics.prepare(
                {self._path(k): v for k, v in metrics.items()}, step, fitting=self._fitting()
            )
            if prepared is not None:
                run.log_metrics(prepared.data, step=prepared.step)

    @rank_zero_only
    def log_graph(self, model: Any, input_array: Any = None) -> None:
        # Lightning calls this at the start of every stage; the summary is written once per run.
        with contained("recording the stage start"):
            self.experiment.log_configs({self._path("status"): STATUS_RUNNING})
        trainer = trainer_of(model)
        if trainer is not None:
            self._trainer_ref = weakref.ref(trainer)
            # Covers runs created outside fit (run=, or experiment touched early): checkpoints
            # saved from now on still name the run.
            attach(trainer, self._identity)
        if not self._summary_logged:
            self.log_model_summary(model)

    @rank_zero_only
    def log_model_summary(self, model: LightningModule, max_depth: int = -1) -> None:
        """Store the model summary as ``<prefix>/model/summary`` and its parameter counts."""
        from lightning.pytorch.utilities.model_summary import ModelSummary  # type: ignore[attr-defined]
        from neptune_scale.types import File

        with contained("logging the model summary"):
            summary = ModelSummary(model, max_depth=max_depth)
            run = self.experiment
            run.log_configs(
                {
                    self._path("model/total_parameters"): int(summary.total_parameters),
                    self._path("model/trainable_parameters"): int(summary.trainable_parameters),
                    self._path("model/size_mb"): float(summary.model_size),
                }
            )
            text = str(summary).encode("utf-8")
            run.assign_files({self._path("model/summary"): File(text, mime_type="text/plain")})
            self._summary_logged = True

    @rank_zero_only
    @rank_zero_only
    def watch(self, model: Any, log: str = "gradients", log_freq: int = 100) -> None:
        """Log per-parameter gradient and/or parameter norms (float series) and histograms
        under ``<prefix>/model/watch/`` every ``log_freq`` optimizer steps, and the module tree
        once (rank 0 only). ``log``: ``"gradients"``, ``"parameters"`` or ``"all"``.
        Raises ``ValueError`` for another ``log`` or a ``log_freq`` below 1."""
        start_watch(self, model, self._path("model/watch"), log, log_freq)

    def unwatch(self) -> None:
        """Stop what :meth:`watch` started (also done by :meth:`close`)."""
        stop_watch(self)

    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        if self._checkpoints.policy == "none":
            return
        with contained("recording a checkpoint"):
            run = self.experiment
            configs = self._checkpoints.configs(checkpoint_callback)
            if configs:
                run.log_configs(configs)
            files = self._checkpoints.files(checkpoint_callback)
            if files:
                run.assign_files(files)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Record the stage's status (and the error, on failure) and flush; the run stays open."""
        # Lightning calls finalize("failed") from inside its `except` block: the error is current.
        error = sys.exc_info()[1] if status == "failed" else None
        with contained("finalizing the run"):
            run = self.experiment
            configs: dict[str, Any] = {self._path("status"): STATUS_WORDS.get(status, status)}
            if error is not None:
                configs.update(error_configs(error, self._path("error")))
            configs.update(self._metrics.diagnostics())
            run.log_configs(configs)
            if run.wait_for_processing(timeout=FINALIZE_FLUSH_TIMEOUT_S, verbose=False):
                # Staged checkpoints are uploaded only now; before, they may still be read.
                self._checkpoints.cleanup()
        self._hand_back()

    # ----------------------------------------------------------------- beyond the contract

    def close(self) -> None:
        """Stop watching the model, record the diagnostics and close the run if this logger
        created it (idempotent)."""
        stop_watch(self)
        with self._lock:
            diagnostics = self._metrics.diagnostics()
            if self._run is not None and self._closer is None and diagnostics:
                # A run passed in (an own run's closer writes them), also without a Trainer.
                with contained("recording the diagnostics"):
                    self._run.log_configs(diagnostics)
            self._hand_back()
            if self._closer is not None:
                self._closer()  # closes the run once (waiting for it); a second call does nothing
                self._closer = None
                self._checkpoints.cleanup()

    def __getstate__(self) -> dict[str, Any]:
        # Spawned workers get a copy without live handles; if a run was already open here, rank
        # 0 over there re-opens it (resume) instead of creating a second run with the same id.
        if not self._is_copy:
            self._take_back()
            if self._handoff is None:
                self._handoff = new_handoff_path()
                self._handoff_remover = weakref.finalize(self, remove_handoff, self._handoff)
            self._copy_number += 1
        state = self.__dict__.copy()
        for handle in ("_run", "_lock", "_closer", "_handoff_remover"):
            state.pop(handle, None)
        state.pop("_trainer_ref", None)
        if self._run is not None and not self._owns_run:
            log.warning("A NeptuneScaleLogger given run= was pickled; the copy logs nowhere")
        opened_here = self._run is not None and self._owns_run
        state["_opened_in_another_process"] = opened_here or self._opened_in_another_process
        state["_run_unavailable"] = self._run is not None and not self._owns_run
        state["_is_copy"] = True
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._run = None
        self._init_handles()

    # ----------------------------------------------------------------- internals

    def _path(self, key: str) -> str:
        return f"{self._prefix}{self.LOGGER_JOIN_CHAR}{key}" if self._prefix else key

    def _create_run(self, call: TrainerCall | None) -> None:
        from despina_lightning._opening import open_run

        if getattr(self, "_run_unavailable", False):
            raise RuntimeError("This logger was given run= and then copied to another process")
        if not self._is_copy:
            self._take_back()  # a ddp_spawn copy may have created the run already
        named = {"project": self._project, "api_token": self._api_token}
        named["experiment_name"] = self._experiment_name
        reopen = self._opened_in_another_process
        process = f"copy-{self._copy_number}" if self._is_copy else "main"
        opened = open_run(self._run_id, named, self._run_kwargs, call, reopen, process)
        self._run, self._run_id = opened.run, opened.run_id
        self._metrics.guard.floor = opened.fork_step
        self._identity.update(run_id=self._run_id, project=project_of(opened.run, self._project))
        if call is not None:
            self._trainer_ref = weakref.ref(call.trainer)
            attach(call.trainer, self._identity)
        # Also at exit without close(): the dropped-point counts go in first (the batcher holds
        # no reference to this logger, so the finalizer does not keep it alive). Registered with
        # atexit after the run exists, so it runs before the client's own exit hook closes it.
        self._closer = weakref.finalize(self, close_quietly, opened.run, self._metrics.diagnostics)
        atexit.register(self._closer)
        self._pending_metadata = not self._opened_in_another_process
        self._adopt()

    def _adopt(self) -> None:
        """Apply the constructor's tags, group tags and description."""
        assert self._run is not None
        self._pending_metadata = False
        if not self._owns_run:
            # A run passed in: checkpoints should still name it, so a resume can fork it.
            self._run_id = getattr(self._run, "run_id", self._run_id)
            self._identity.update(run_id=self._run_id, project=project_of(self._run, None))
        with contained("applying tags and description"):
            if self._tags:
                self._run.add_tags(self._tags)
            if self._group_tags:
                self._run.add_tags(self._group_tags, group_tags=True)
            if self._description is not None:
                self._run.log_configs({DESCRIPTION_PATH: truncate_text(self._description)})

    def _fitting(self) -> bool:
        trainer = None if self._trainer_ref is None else self._trainer_ref()
        return trainer is None or trainer.state.fn == TrainerFn.FITTING

    def _hand_back(self) -> None:
        """In a ddp_spawn copy that logged: leave the run's state for the main process."""
        if self._is_copy and self._handoff and self._run is not None and self._owns_run:
            state: dict[str, Any] = {"run_id": self._run_id, "metrics": self._metrics.export()}
            state["summary_logged"] = self._summary_logged
            with contained("handing the run state back to the main process"):
                write_handoff(self._handoff, state)

    def _take_back(self) -> None:
        """In the main process: continue from what a ddp_spawn copy handed back, if any."""
        state = None if self._handoff is None else read_handoff(self._handoff)
        if state is None or not self._owns_run:
            return
        if self._run is None:
            self._run_id = str(state.get("run_id") or self._run_id)
            self._identity["run_id"] = self._run_id
            self._opened_in_another_process = True  # reopen it, never create it twice
        self._metrics.merge(state.get("metrics") or {})
        self._summary_logged = self._summary_logged or bool(state.get("summary_logged"))
