"""Trainer.hyperparameter_search(backend="optuna") with the HF callback and despina_optuna:
every trial is exactly one run, whichever mode the study is logged in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import transformers
from despina_hf import NeptuneScaleCallback
from hf_tiny import TinyClassification, accuracy, tiny_bert

optuna = pytest.importorskip("optuna")
import despina_optuna  # noqa: E402


def search(make_args: Any, tmp_path: Path) -> tuple[NeptuneScaleCallback, Any]:
    """A two-trial search on a tiny BERT; returns the HF callback (closed) and the study."""
    callback = NeptuneScaleCallback(run_id="hf", experiment_name="bert-hpo")
    trainer = transformers.Trainer(
        model_init=lambda trial=None: tiny_bert(),
        args=make_args(max_steps=2),
        train_dataset=TinyClassification(32, seed=1),
        eval_dataset=TinyClassification(16, seed=2),
        compute_metrics=accuracy,
        callbacks=[callback],
    )
    storage = f"sqlite:///{tmp_path / 'search.db'}"
    trainer.hyperparameter_search(
        hp_space=lambda t: {
            "learning_rate": t.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
        },
        backend="optuna",
        n_trials=2,
        direction="minimize",
        compute_objective=lambda metrics: metrics["eval_loss"],
        storage=storage,
        study_name="bert-search",
    )
    callback.close()
    return callback, optuna.load_study(study_name="bert-search", storage=storage)


def test_trial_mode_writes_into_the_hf_trial_runs(
    make_args: Any, tmp_path: Path, stored: Any
) -> None:
    _, study = search(make_args, tmp_path)
    hf_runs = {t.number: t.user_attrs["despina/run_id"] for t in study.trials}

    optuna_callback = despina_optuna.log_study_metadata(study, mode="trial")

    store = stored()
    assert sorted(store.run_ids()) == sorted(hf_runs.values())  # no second run for a trial
    assert sorted(optuna_callback.run_ids) == sorted(hf_runs.values())
    for trial in study.trials:
        values = store.values(hf_runs[trial.number])
        assert values["trial/state"] == "COMPLETE"
        assert values["trial/value"] == pytest.approx(trial.value)
        assert values["trial/objective"] == pytest.approx(trial.value)  # the HF callback's own
        assert values["trainer/args/learning_rate"] == pytest.approx(trial.params["learning_rate"])
        assert "optuna/bert-search" in store.details(hf_runs[trial.number])["group_tags"]
        # the training metrics the HF callback wrote are still there
        assert set(store.metric(hf_runs[trial.number], "train/loss")) == {1.0, 2.0}


def test_study_mode_adds_one_study_run_pointing_at_the_trial_runs(
    make_args: Any, tmp_path: Path, stored: Any
) -> None:
    _, study = search(make_args, tmp_path)

    despina_optuna.log_study_metadata(study, run_id="bert-study")

    store = stored()
    hf_runs = {t.number: t.user_attrs["despina/run_id"] for t in study.trials}
    assert sorted(store.run_ids()) == sorted([*hf_runs.values(), "bert-study"])
    values = store.values("bert-study")
    for number, run_id in hf_runs.items():
        assert values[f"trials/{number}/run_id"] == run_id
    assert values["best/value"] == pytest.approx(study.best_value)
