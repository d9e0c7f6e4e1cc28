"""What one Optuna trial and one study look like as run attributes (pure functions, no I/O).

A trial's record sits under a prefix: ``trials/<number>`` in a study's run, ``trial`` in a
trial's own run. Objective values are named after ``study.metric_names`` when the study set
them, else ``value`` (one objective) or ``objective_<i>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

__all__ = [
    "LINK_PROJECT_ATTR",
    "LINK_RUN_ID_ATTR",
    "best_configs",
    "objective_names",
    "pareto_front",
    "study_configs",
    "study_counts",
    "trial_configs",
    "trial_values",
]

# User attributes under which a trial names the run that already tracks it (set by the HF
# callback during Trainer.hyperparameter_search): that run takes the trial's record instead of
# a new one, so one trial is never two runs.
LINK_RUN_ID_ATTR = "despina/run_id"
LINK_PROJECT_ATTR = "despina/project"

_CONFIG_SCALARS = (bool, int, float, str, datetime)


def objective_names(study: Study) -> list[str]:
    names = study.metric_names
    if names and len(names) == len(study.directions):
        return [str(n) for n in names]
    if len(study.directions) == 1:
        return ["value"]
    return [f"objective_{i}" for i in range(len(study.directions))]


def study_configs(study: Study, prefix: str) -> dict[str, Any]:
    """Name, directions, search space and user attributes of the study."""
    configs: dict[str, Any] = {
        f"{prefix}/name": study.study_name,
        f"{prefix}/directions": ",".join(_direction(d) for d in study.directions),
        f"{prefix}/objectives": ",".join(objective_names(study)),
    }
    for trial in study.get_trials(deepcopy=False):
        for name, distribution in trial.distributions.items():
            configs[f"{prefix}/distributions/{name}"] = repr(distribution)
    configs.update(_flat(f"{prefix}/user_attrs", study.user_attrs))
    return configs


def study_counts(trials: Sequence[FrozenTrial], prefix: str) -> dict[str, int]:
    counts = {f"{prefix}/n_trials": len(trials)}
    for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
        counts[f"{prefix}/n_{state.name.lower()}"] = sum(t.state == state for t in trials)
    return counts


def trial_configs(trial: FrozenTrial, names: Sequence[str], prefix: str) -> dict[str, Any]:
    """The trial's number, state, timing, parameters, value(s) and user attributes."""
    configs: dict[str, Any] = {
        f"{prefix}/number": trial.number,
        # Optuna's own words (COMPLETE, PRUNED, FAIL), as its docs and dashboard use them.
        f"{prefix}/state": trial.state.name,
    }
    if trial.datetime_start is not None:
        configs[f"{prefix}/datetime_start"] = trial.datetime_start
    if trial.datetime_complete is not None:
        configs[f"{prefix}/datetime_complete"] = trial.datetime_complete
    if trial.duration is not None:
        configs[f"{prefix}/duration_s"] = trial.duration.total_seconds()
    configs.update(_flat(f"{prefix}/params", trial.params))
    for name, value in trial_values(trial, names).items():
        configs[f"{prefix}/values/{name}" if len(names) > 1 else f"{prefix}/value"] = value
    user_attrs = {k: v for k, v in trial.user_attrs.items() if not k.startswith("despina/")}
    configs.update(_flat(f"{prefix}/user_attrs", user_attrs))
    return configs


def trial_values(trial: FrozenTrial, names: Sequence[str]) -> dict[str, float]:
    """``{objective name: value}``; empty for a failed trial (it has none)."""
    values = trial.values
    if values is None or len(values) != len(names):
        return {}
    return {name: float(v) for name, v in zip(names, values, strict=True)}


def best_configs(
    trials: Sequence[FrozenTrial],
    directions: Sequence[StudyDirection],
    names: Sequence[str],
    prefix: str,
) -> dict[str, Any]:
    """The best of ``trials`` (one objective) or their Pareto front's trial numbers (several)."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
    if not complete:
        return {}
    if len(names) > 1:
        front = sorted(t.number for t in pareto_front(complete, directions))
        return {
            f"{prefix}/n_trials": len(front),
            f"{prefix}/trial_numbers": ",".join(str(n) for n in front),
        }
    sign = 1.0 if directions[0] == StudyDirection.MINIMIZE else -1.0
    best = min(complete, key=lambda t: (sign * float(t.values[0]), t.number))
    configs: dict[str, Any] = {f"{prefix}/trial_number": best.number}
    for name, value in trial_values(best, names).items():
        configs[f"{prefix}/{name}"] = value
    # Earlier best trials' parameter names may linger (attributes cannot be deleted), so
    # best/trial_number says which trial the parameters belong to.
    configs.update(_flat(f"{prefix}/params", best.params))
    return configs


def pareto_front(
    trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection]
) -> list[FrozenTrial]:
    """Trials no other trial dominates (quadratic: a summary, not a hot path)."""
    signs = [1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions]
    keys = [[s * float(v) for s, v in zip(signs, t.values, strict=True)] for t in trials]

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x <= y for x, y in zip(a, b, strict=True)) and a != b

    return [t for t, k in zip(trials, keys, strict=True) if not any(dominates(o, k) for o in keys)]


def _direction(direction: StudyDirection) -> str:
    return direction.name.lower()


def _flat(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Config-ready values: scalars as they are (non-finite floats and others as text)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}/{key}"
        if isinstance(value, Mapping):
            flat.update(_flat(path, value))
        elif isinstance(value, float) and not math.isfinite(value):
            flat[path] = str(value)
        elif isinstance(value, _CONFIG_SCALARS):
            flat[path] = value
        else:
            flat[path] = str(value)
    return flat
