"""``NeptuneCallback``: an Optuna study callback writing trials to Neptune Scale runs.

Two modes:

* ``"study"`` (default): one run for the whole study. Each finished trial lands under
  ``trials/<number>/``; ``history/<objective>`` and ``history/best_<objective>`` are series over
  trial numbers, ``best/*`` the best trial so far (Pareto front for several objectives),
  ``study/*`` the study, ``visualizations/*`` Optuna's plots. A study is one question asked of
  one search space: one run keeps its history on one chart and its trials out of the runs
  table's way (a search of 500 trials is one row, not 500), as neptune-optuna did.
* ``"trial"``: one run per trial (``trial/*``, ``study/*``, ``best/*`` as of that trial), all
  sharing a group tag, so trials sit side by side in the runs table and the compare view.

A trial that already has a run (the HF callback's run during
``Trainer.hyperparameter_search``, named in the trial's ``despina/run_id`` user attribute) is
never given a second one: in ``"trial"`` mode its record goes into that run, in ``"study"``
mode ``trials/<number>/run_id`` points to it.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from . import _plots, _record
from ._guard import contained

__all__ = ["MODES", "NeptuneCallback", "log_study_metadata"]

MODES = ("study", "trial")
# States a callback sees (Optuna calls study callbacks after a trial finished).
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
_MIME = {"html": "text/html", "png": "image/png"}


class NeptuneCallback:
    """Log an Optuna study to Neptune Scale: ``study.optimize(f, callbacks=[NeptuneCallback()])``.

    Args:
        run: an existing ``Run`` to write the study to (``"study"`` mode; never closed here).
        mode: ``"study"`` (one run per study, default) or ``"trial"`` (one run per trial).
        run_id: id of the study's run, or the prefix of the trials' run ids (default: random).
        project, api_token, experiment_name: as ``neptune_scale.Run`` (the experiment defaults
            to the study's name).
        tags, group_tags: added to every run opened; in ``"trial"`` mode the runs also share
            the group tag ``optuna/<study name>``.
        visualization_backend: ``"auto"`` (plotly, else matplotlib, else none), ``"plotly"``,
            ``"matplotlib"`` or ``"none"``.
        plots_update_freq: redraw the plots every that many trials (``"study"`` mode); ``None``
            draws them only at ``close()``.
        plotly_js: how plotly HTML files get plotly.js: ``"cdn"`` (small files; opening one
            needs the internet) or ``True`` (self-contained, about 4 MB each).
        **run_kwargs: passed to ``Run`` (``mode``, ``log_directory``, ...).

    Tracking errors are logged, never raised into the study (``set_strict(True)`` re-raises).
    """

    def __init__(
        self,
        run: Any = None,
        *,
        mode: str = "study",
        run_id: str | None = None,
        project: str | None = None,
        api_token: str | None = None,
        experiment_name: str | None = None,
        tags: Iterable[str] = (),
        group_tags: Iterable[str] = (),
        visualization_backend: str = "auto",
        plots_update_freq: int | None = None,
        plotly_js: str | bool = "cdn",
        **run_kwargs: Any,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if run is not None and mode != "study":
            raise ValueError("run= takes the whole study: it needs mode='study'")
        if plots_update_freq is not None and plots_update_freq < 1:
            raise ValueError(f"plots_update_freq must be >= 1 or None, got {plots_update_freq}")
        self._mode = mode
        self._backend = _plots.resolve_backend(visualization_backend)
        self._plots_every = plots_update_freq
        self._plotly_js = plotly_js
        self._base_id = run_id or f"optuna-{secrets.token_hex(6)}"
        self._experiment = experiment_name
        self._tags = list(tags)
        self._group_tags = list(group_tags)
        self._run_kwargs = dict(run_kwargs)
        for key, value in (("project", project), ("api_token", api_token)):
            if value is not None:
                self._run_kwargs[key] = value
        self._run: Any = run
        self._owns_run = run is None
        self._study: Study | None = None
        self._study_logged: dict[str, Any] = {}
        self._history_step = -1  # series over trial numbers only go forward
        self._recorded = 0
        self._lock = threading.Lock()
        #: ids of the runs written to, in order (the study's run, or one per trial)
        self.run_ids: list[str] = [] if run is None else [str(run.run_id)]

    @property
    def run(self) -> Any:
        """The study's run (``"study"`` mode), ``None`` before the first trial finished."""
        return self._run

    def __call__(self, study: Study, trial: FrozenTrial) -> None:
        with self._lock, contained(f"logging trial {trial.number}"):
            self._record(study, trial, study.get_trials(deepcopy=False, states=FINISHED))
            if self._plots_every and self._recorded % self._plots_every == 0:
                self._log_plots(study)

    def close(self) -> None:
        """Draw the final plots (``"study"`` mode) and close the run if the callback opened it.
        Safe to call twice."""
        with self._lock:
            study, run = self._study, self._run
            if study is not None and run is not None:
                with contained("logging the plots"):
                    self._log_plots(study)
            self._study = None
            if run is not None and self._owns_run:
                self._run = None
                with contained("closing the run"):
                    run.close()

    # ----- internals -------------------------------------------------------------------------

    def _record(self, study: Study, trial: FrozenTrial, finished: Sequence[FrozenTrial]) -> None:
        """Log one finished trial; ``finished``: the trials "best so far" is taken from."""
        self._study = study
        self._recorded += 1
        names = _record.objective_names(study)
        if self._mode == "trial":
            self._record_trial_run(study, trial, finished, names)
            return
        run = self._study_run(study)
        prefix = f"trials/{trial.number}"
        configs = _record.trial_configs(trial, names, prefix)
        linked = trial.user_attrs.get(_record.LINK_RUN_ID_ATTR)
        if isinstance(linked, str):
            configs[f"{prefix}/run_id"] = linked
        configs.update(self._study_changes(study))
        configs.update(_record.study_counts(finished, "study"))
        configs.update(_record.best_configs(finished, study.directions, names, "best"))
        run.log_configs(configs)
        _log_intermediate(run, trial, f"{prefix}/intermediate_values")
        self._log_history(run, trial, finished, study.directions, names)

    def _record_trial_run(
        self, study: Study, trial: FrozenTrial, finished: Sequence[FrozenTrial], names: list[str]
    ) -> None:
        run = self._trial_run(study, trial)
        try:
            configs = _record.trial_configs(trial, names, "trial")
            configs.update(_record.study_configs(study, "study"))
            configs.update(_record.best_configs(finished, study.directions, names, "best"))
            run.log_configs(configs)
            _log_intermediate(run, trial, "trial/intermediate_values")
            if self._tags:
                run.add_tags(self._tags)
            run.add_tags([*self._group_tags, _study_tag(study)], group_tags=True)
        finally:
            run.close()

    def _study_run(self, study: Study) -> Any:
        if self._run is None:
            self._run = self._open(self._base_id, study, resume=False)
            if self._tags:
                self._run.add_tags(self._tags)
            if self._group_tags:
                self._run.add_tags(self._group_tags, group_tags=True)
        return self._run

    def _trial_run(self, study: Study, trial: FrozenTrial) -> Any:
        linked = trial.user_attrs.get(_record.LINK_RUN_ID_ATTR)
        if isinstance(linked, str):
            project = trial.user_attrs.get(_record.LINK_PROJECT_ATTR)
            return self._open(linked, None, resume=True, project=project)
        return self._open(f"{self._base_id}-trial{trial.number}", study, resume=False)

    def _open(self, run_id: str, study: Study | None, *, resume: bool, project: Any = None) -> Any:
        from neptune_scale import Run

        kwargs = dict(self._run_kwargs)
        kwargs["run_id"] = run_id
        if isinstance(project, str):
            kwargs["project"] = project
        if resume:
            kwargs["resume"] = True
        elif study is not None:
            kwargs["experiment_name"] = self._experiment or study.study_name
        run = Run(**kwargs)
        self.run_ids.append(run_id)
        return run

    def _study_changes(self, study: Study) -> dict[str, Any]:
        """Study configs not logged yet or changed (new parameters appear as trials run)."""
        current = _record.study_configs(study, "study")
        changed = {k: v for k, v in current.items() if self._study_logged.get(k) != v}
        self._study_logged.update(changed)
        return changed

    def _log_history(
        self,
        run: Any,
        trial: FrozenTrial,
        finished: Sequence[FrozenTrial],
        directions: Sequence[StudyDirection],
        names: list[str],
    ) -> None:
        # Parallel workers finish trials out of order: a series cannot go back, so a trial
        # finishing after a higher-numbered one is only in its trials/<number> record.
        if trial.number <= self._history_step:
            return
        values = _record.trial_values(trial, names)
        if not values:
            return
        self._history_step = trial.number
        points = {f"history/{name}": value for name, value in values.items()}
        if len(names) == 1:
            best = _record.best_configs(finished, directions, names, "best")
            if f"best/{names[0]}" in best:
                points[f"history/best_{names[0]}"] = best[f"best/{names[0]}"]
        run.log_metrics(points, step=trial.number)

    def _log_plots(self, study: Study) -> None:
        if self._mode != "study" or self._run is None:
            return
        names = _record.objective_names(study)
        files = _plots.draw_plots(study, self._backend, names, self._plotly_js)
        if files:
            from neptune_scale.types import File

            self._run.assign_files(
                {
                    f"visualizations/{name}": File(data, mime_type=_MIME[name.rsplit(".", 1)[1]])
                    for name, data in files.items()
                }
            )


def log_study_metadata(study: Study, run: Any = None, **kwargs: Any) -> NeptuneCallback:
    """Log a study after the fact (every finished trial, best trial, plots); takes the
    arguments of ``NeptuneCallback``. Returns the closed callback (``callback.run_ids``: the
    runs written). Trials are taken in number order, so "best so far" means among the trials
    numbered up to each one."""
    callback = NeptuneCallback(run, **kwargs)
    trials = sorted(study.get_trials(deepcopy=False, states=FINISHED), key=lambda t: t.number)
    with callback._lock:
        for trial in trials:
            with contained(f"logging trial {trial.number}"):
                upto = [t for t in trials if t.number <= trial.number]
                callback._record(study, trial, upto)
    callback.close()
    return callback


def _log_intermediate(run: Any, trial: FrozenTrial, path: str) -> None:
    for step in sorted(trial.intermediate_values):
        run.log_metrics({path: float(trial.intermediate_values[step])}, step=step)


def _study_tag(study: Study) -> str:
    return f"optuna/{study.study_name}"
