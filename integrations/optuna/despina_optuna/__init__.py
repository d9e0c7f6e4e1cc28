"""Optuna integration for Neptune Scale: a study callback and a way to log a finished study.

    import optuna
    from despina_optuna import NeptuneCallback, log_study_metadata

    callback = NeptuneCallback(experiment_name="lr-search")        # one run for the study
    study.optimize(objective, n_trials=50, callbacks=[callback])
    callback.close()                                               # final plots, run closed

    log_study_metadata(optuna.load_study(study_name="s", storage="sqlite:///s.db"))

``NeptuneCallback(mode="trial")`` gives each trial its own run instead, tied by the group tag
``optuna/<study name>``. Without an API token the runs go into Despina's embedded store.
"""

from __future__ import annotations

try:
    import optuna  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("despina_optuna needs optuna: pip install 'despina[optuna]'") from exc

from ._callback import MODES, NeptuneCallback, log_study_metadata
from ._guard import set_strict
from ._record import LINK_PROJECT_ATTR, LINK_RUN_ID_ATTR

__all__ = [
    "LINK_PROJECT_ATTR",
    "LINK_RUN_ID_ATTR",
    "MODES",
    "NeptuneCallback",
    "log_study_metadata",
    "set_strict",
]
