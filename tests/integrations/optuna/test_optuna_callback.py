"""despina_optuna through real Optuna studies, read back from the embedded store."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from despina_optuna import NeptuneCallback, log_study_metadata

PROJECT = "optuna-team/tests"  # the conftest's NEPTUNE_PROJECT


def mixed_objective(trial: optuna.Trial) -> float:
    """Trial 2 is pruned after two reports, trial 3 fails; the others complete."""
    x = trial.suggest_float("x", -3.0, 3.0)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    for step in range(3):
        trial.report(x * x + 2 - step, step)
        if trial.number == 2 and step == 1:
            raise optuna.TrialPruned()
    if trial.number == 3:
        raise ValueError("simulated failure")
    return x * x + (0.5 if kind == "b" else 0.0)


def row(reader: Any, run_id: str) -> dict[str, Any]:
    """Single values and last series values of one run, absent ones left out."""
    table = reader.fetch_runs_table(PROJECT, [run_id], None).loc[run_id]
    return {k: v for k, v in table.items() if not (isinstance(v, float) and math.isnan(v))}


def series(reader: Any, run_id: str, path: str) -> dict[float, float]:
    frame = reader.fetch_metrics(PROJECT, [run_id], [path], lineage_to_the_root=False)
    return {float(step): float(v) for (_, step), v in frame[path].dropna().items()}


def test_study_mode_logs_every_trial_state_and_the_best_so_far(reader: Any) -> None:
    study = optuna.create_study(study_name="mixed", sampler=optuna.samplers.RandomSampler(0))
    callback = NeptuneCallback(run_id="study-run", tags=["hpo"])
    study.optimize(mixed_objective, n_trials=6, callbacks=[callback], catch=(ValueError,))
    callback.close()
    callback.close()  # twice is harmless

    r = reader()
    assert r.list_runs(PROJECT) == ["study-run"]
    values = row(r, "study-run")
    assert r.run_details(PROJECT, "study-run")["experiment"] == "mixed"
    states = {t.number: values[f"trials/{t.number}/state"] for t in study.trials}
    assert states == {
        0: "COMPLETE",
        1: "COMPLETE",
        2: "PRUNED",
        3: "FAIL",
        4: "COMPLETE",
        5: "COMPLETE",
    }
    assert "trials/3/value" not in values  # a failed trial has no value
    for trial in study.trials:
        prefix = f"trials/{trial.number}"
        assert values[f"{prefix}/params/x"] == pytest.approx(trial.params["x"])
        assert values[f"{prefix}/params/kind"] == trial.params["kind"]
        assert values[f"{prefix}/duration_s"] == pytest.approx(trial.duration.total_seconds())
        reported = series(r, "study-run", f"{prefix}/intermediate_values")
        assert reported == pytest.approx(
            {float(s): v for s, v in trial.intermediate_values.items()}
        )
    assert sorted(series(r, "study-run", "trials/2/intermediate_values")) == [0.0, 1.0]
    assert values["best/value"] == pytest.approx(study.best_value)
    assert values["best/trial_number"] == study.best_trial.number
    assert values["best/params/x"] == pytest.approx(study.best_params["x"])
    counts = {k: values[f"study/n_{k}"] for k in ("trials", "complete", "pruned", "fail")}
    assert counts == {"trials": 6, "complete": 4, "pruned": 1, "fail": 1}
    assert values["study/directions"] == "minimize"
    # history: completed (and pruned, which have a value) trials over trial numbers, and the
    # running best, which never goes up for a minimised objective
    history = series(r, "study-run", "history/value")
    assert sorted(history) == [0.0, 1.0, 2.0, 4.0, 5.0]
    best = [v for _, v in sorted(series(r, "study-run", "history/best_value").items())]
    assert best == sorted(best, reverse=True) and best[-1] == pytest.approx(study.best_value)
    assert r.run_details(PROJECT, "study-run")["tags"] == ["hpo"]


def test_plots_are_files_when_plotly_is_installed(reader: Any, tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(1))
    callback = NeptuneCallback(run_id="plotted", plots_update_freq=3)
    study.optimize(mixed_objective, n_trials=6, callbacks=[callback], catch=(ValueError,))
    callback.close()

    files = reader().download_files(PROJECT, ["plotted"], "^visualizations/", tmp_path / "dl")
    names = {row.attribute for row in files.itertuples()}
    assert {"visualizations/optimization_history.html", "visualizations/slice.html"} <= names
    assert "visualizations/intermediate_values.html" in names
    history = Path(
        next(r.path for r in files.itertuples() if "optimization_history" in r.attribute)
    )
    assert "plotly" in history.read_text()


def test_plots_are_skipped_cleanly_without_plotly_or_matplotlib(tmp_path: Path) -> None:
    # A fresh interpreter in which neither library can be imported (None in sys.modules makes
    # the import fail, as if it were not installed); strict mode turns any error into a failure.
    script = """
import sys
sys.modules["plotly"] = None
sys.modules["matplotlib"] = None
import json, optuna
from despina_optuna import NeptuneCallback
from despina.query import Reader
optuna.logging.set_verbosity(optuna.logging.ERROR)
study = optuna.create_study()
callback = NeptuneCallback(run_id="bare", plots_update_freq=1)
study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3, callbacks=[callback])
callback.close()
reader = Reader(sys.argv[1])
print(json.dumps(reader.list_attributes("optuna-team/tests", ["bare"])))
"""
    env = dict(os.environ, DESPINA_OPTUNA_STRICT="1", PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "store")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    attributes = json.loads(done.stdout.strip().splitlines()[-1])
    assert "trials/2/value" in attributes
    assert not [a for a in attributes if a.startswith("visualizations/")]


def test_trial_mode_gives_each_trial_a_run_tied_by_a_group_tag(reader: Any) -> None:
    study = optuna.create_study(study_name="per-trial", direction="maximize")
    callback = NeptuneCallback(mode="trial", run_id="pt", experiment_name="search")
    study.optimize(mixed_objective, n_trials=5, callbacks=[callback], catch=(ValueError,))
    callback.close()

    r = reader()
    run_ids = sorted(r.list_runs(PROJECT))
    assert run_ids == [f"pt-trial{n}" for n in range(5)] == sorted(callback.run_ids)
    for trial in study.trials:
        run_id = f"pt-trial{trial.number}"
        values = row(r, run_id)
        details = r.run_details(PROJECT, run_id)
        assert details["group_tags"] == ["optuna/per-trial"]
        assert details["experiment"] == "search"
        assert values["trial/state"] == trial.state.name
        assert values["trial/number"] == trial.number
        assert values["study/name"] == "per-trial"
        # best so far: the best of the trials that had completed when this one finished
        done = [t for t in study.trials[: trial.number + 1] if t.state.name == "COMPLETE"]
        if done:
            assert values["best/value"] == pytest.approx(max(t.value for t in done))
        steps = series(r, run_id, "trial/intermediate_values")
        assert sorted(steps) == sorted(float(s) for s in trial.intermediate_values)
    assert "trial/value" not in row(r, "pt-trial3")


def test_multi_objective_values_and_pareto_front(reader: Any) -> None:
    study = optuna.create_study(
        directions=["minimize", "maximize"], sampler=optuna.samplers.RandomSampler(2)
    )
    study.set_metric_names(["loss", "accuracy"])

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0.0, 1.0)
        return x, x * x + trial.suggest_float("y", 0.0, 0.2)

    callback = NeptuneCallback(run_id="multi")
    study.optimize(objective, n_trials=8, callbacks=[callback])
    callback.close()

    r = reader()
    values = row(r, "multi")
    assert values["study/directions"] == "minimize,maximize"
    assert values["study/objectives"] == "loss,accuracy"
    for trial in study.trials:
        assert values[f"trials/{trial.number}/values/loss"] == pytest.approx(trial.values[0])
        assert values[f"trials/{trial.number}/values/accuracy"] == pytest.approx(trial.values[1])
    front = sorted(t.number for t in study.best_trials)
    assert values["best/trial_numbers"] == ",".join(map(str, front))
    assert values["best/n_trials"] == len(front)
    assert sorted(series(r, "multi", "history/accuracy")) == [float(n) for n in range(8)]


def test_a_finished_study_is_logged_after_the_fact(reader: Any, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="stored", storage=storage)
    study.optimize(mixed_objective, n_trials=5, catch=(ValueError,))
    loaded = optuna.load_study(study_name="stored", storage=storage)

    callback = log_study_metadata(loaded, run_id="later")
    assert callback.run is None and callback.run_ids == ["later"]

    r = reader()
    values = row(r, "later")
    assert [values[f"trials/{n}/state"] for n in range(5)] == [
        "COMPLETE",
        "COMPLETE",
        "PRUNED",
        "FAIL",
        "COMPLETE",
    ]
    assert values["best/value"] == pytest.approx(loaded.best_value)
    assert sorted(series(r, "later", "history/value")) == [0.0, 1.0, 2.0, 4.0]


def test_parallel_workers_lose_no_trial(reader: Any) -> None:
    # Trials finish out of order under n_jobs: the per-trial records must all be there, and the
    # history series (which cannot go back) must not raise.
    study = optuna.create_study()
    callback = NeptuneCallback(run_id="parallel", visualization_backend="none")
    study.optimize(
        mixed_objective, n_trials=12, n_jobs=3, callbacks=[callback], catch=(ValueError,)
    )
    callback.close()
    values = row(reader(), "parallel")
    assert {values[f"trials/{n}/state"] for n in range(12)} <= {"COMPLETE", "PRUNED", "FAIL"}
    assert values["study/n_trials"] == 12


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mode": "per-run"}, "mode"),
        ({"plots_update_freq": 0}, "plots_update_freq"),
        ({"visualization_backend": "bokeh"}, "visualization_backend"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        NeptuneCallback(**kwargs)
