"""Tell an Optuna trial which run tracks it, so ``despina_optuna`` never opens a second one.

During ``Trainer.hyperparameter_search(backend="optuna")`` each trial is a run of this callback;
the study callback of ``despina_optuna`` (live, or ``log_study_metadata`` afterwards) reads
these user attributes and writes the trial's Optuna record into that run.
"""

from __future__ import annotations

from typing import Any

__all__ = ["link_trial"]

# The names despina_optuna reads (despina_optuna.LINK_RUN_ID_ATTR / LINK_PROJECT_ATTR); spelled
# out here so despina_hf does not import optuna's integration.
RUN_ID_ATTR = "despina/run_id"
PROJECT_ATTR = "despina/project"


def link_trial(trial: Any, run_id: str, project: str | None) -> None:
    """Set the user attributes on an Optuna trial (other backends' trials have no such method)."""
    set_user_attr = getattr(trial, "set_user_attr", None)
    if not callable(set_user_attr):
        return
    set_user_attr(RUN_ID_ATTR, run_id)
    if project is not None:
        set_user_attr(PROJECT_ATTR, project)
