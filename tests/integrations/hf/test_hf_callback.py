"""``NeptuneScaleCallback`` with the real ``Trainer`` (tiny BERT, CPU) into a real embedded
store; every assertion reads what the store holds through ``despina.query.Reader``."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
import transformers
from despina_hf import NeptuneScaleCallback
from hf_tiny import FailAtStep, TinyClassification


def test_train_evaluate_predict_land_in_one_run(make_trainer: Any, stored: Any) -> None:
    callback = NeptuneScaleCallback(
        run_id="plain",
        experiment_name="tiny-bert",
        tags=["hf", "tiny"],
        group_tags=["suite"],
        description="two-layer BERT on synthetic data",
    )
    trainer = make_trainer(callback, eval_strategy="steps", eval_steps=3, learning_rate=2e-3)
    trainer.train()
    trainer.evaluate()  # after on_train_end: must still land in the same run
    trainer.predict(TinyClassification(16, seed=3))
    callback.close()

    store = stored()
    assert store.run_ids() == ["plain"]
    values = store.values("plain")
    assert values["trainer/args/learning_rate"] == pytest.approx(2e-3)
    assert values["trainer/args/max_steps"] == 6
    assert values["model/config/hidden_size"] == 32
    assert values["model/config/num_hidden_layers"] == 2
    expected_params = sum(p.numel() for p in trainer.model.parameters())
    assert values["model/num_parameters"] == expected_params
    assert values["trainer/status"] == "succeeded"
    assert values["description"] == "two-layer BERT on synthetic data"
    assert values["train/train_runtime"] > 0  # an end-of-training summary, as a config

    history = trainer.state.log_history
    logged_losses = {float(h["step"]): h["loss"] for h in history if "loss" in h}
    assert store.metric("plain", "train/loss") == pytest.approx(logged_losses)
    assert sorted(store.metric("plain", "train/learning_rate")) == [1, 2, 3, 4, 5, 6]
    assert sorted(store.metric("plain", "eval/loss")) == [3.0, 6.0]
    eval_accuracy = store.metric("plain", "eval/accuracy")
    assert set(eval_accuracy) == {3.0, 6.0} and all(0 <= a <= 1 for a in eval_accuracy.values())
    assert set(store.metric("plain", "test/loss")) == {6.0}  # predict() at the final step

    details = store.details("plain")
    assert set(details["tags"]) == {"hf", "tiny"}
    assert set(details["group_tags"]) == {"suite"}
    assert details["experiment"] == "tiny-bert"


def test_evaluate_after_training_is_stored_as_final_values(
    make_trainer: Any, stored: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Evaluations at steps 3 and 6, the best model reloaded at the end: the final evaluate()
    # runs at step 6 again, where the series already hold the in-training evaluation.
    callback = NeptuneScaleCallback(run_id="final")
    trainer = make_trainer(
        callback,
        eval_strategy="steps",
        eval_steps=3,
        save_strategy="steps",
        save_steps=3,
        load_best_model_at_end=True,
        metric_for_best_model="loss",
        learning_rate=2e-3,
    )
    trainer.train()
    final = trainer.evaluate()
    tested = trainer.predict(TinyClassification(16, seed=3)).metrics
    callback.close()

    assert not [r for r in caplog.records if "not logging" in r.getMessage()]
    values = stored().values("final")
    assert values["eval/final/loss"] == pytest.approx(final["eval_loss"])
    assert values["eval/final/accuracy"] == pytest.approx(final["eval_accuracy"])
    assert values["test/final/loss"] == pytest.approx(tested["test_loss"])
    history = trainer.state.log_history
    in_training = {float(h["step"]): h["eval_loss"] for h in history[:-2] if "eval_loss" in h}
    assert stored().metric("final", "eval/loss") == pytest.approx(in_training)
    assert set(in_training) == {3.0, 6.0}


@pytest.mark.parametrize("policy", ["last", "best", "all"])
def test_checkpoints_are_uploaded_by_policy(
    policy: str, make_trainer: Any, stored: Any, tmp_path: Path, store_dir: Path
) -> None:
    callback = NeptuneScaleCallback(run_id=f"ckpt-{policy}", log_checkpoints=policy)
    trainer = make_trainer(
        callback,
        save_strategy="steps",
        save_steps=2,
        eval_strategy="steps",
        eval_steps=2,
        save_total_limit=1,  # rotation deletes older checkpoints while they may be uploading
        metric_for_best_model="eval_loss",
        greater_is_better=False,
    )
    trainer.train()
    best_step = trainer.state.best_global_step
    callback.close()
    staged = store_dir / "hf-checkpoints"
    assert staged.is_dir() and not list(staged.rglob("*.safetensors"))  # uploaded, copies gone

    store = stored()
    files = store.download(f"ckpt-{policy}", "^checkpoints/", tmp_path / "downloaded")
    values = store.values(f"ckpt-{policy}")
    if policy == "all":
        names = {a.split("/")[1] for a in files}
        assert names == {"checkpoint-2", "checkpoint-4", "checkpoint-6"}
        # checkpoint-2 was rotated away on disk; its copy still arrived, whole.
        state = json.loads(files["checkpoints/checkpoint-2/trainer_state.json"].read_text())
        assert state["global_step"] == 2
    else:
        expected_step = 6 if policy == "last" else best_step
        assert values[f"checkpoints/{policy}/step"] == expected_step
        state_file = files[f"checkpoints/{policy}/trainer_state.json"]
        assert json.loads(state_file.read_text())["global_step"] == expected_step
        if policy == "best":
            assert values["checkpoints/best/metric"] == pytest.approx(trainer.state.best_metric)
    weights = [a for a in files if a.endswith("model.safetensors")]
    assert weights and all(files[a].stat().st_size > 10_000 for a in weights)


def test_failed_train_is_recorded_and_resume_forks_the_failed_run(
    make_trainer: Any, stored: Any
) -> None:
    first = NeptuneScaleCallback(run_id="crashy", experiment_name="resumable")
    trainer = make_trainer(first, save_strategy="steps", save_steps=2)
    trainer.add_callback(FailAtStep(3))
    with pytest.raises(RuntimeError, match="simulated crash at step 3"):
        trainer.train()
    checkpoint = Path(trainer.args.output_dir) / "checkpoint-2"
    assert checkpoint.is_dir()

    second = NeptuneScaleCallback()  # a new process would have a fresh callback
    resumed = make_trainer(second, save_strategy="steps", save_steps=2)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    fork_id = second.run.run_id
    second.close()

    store = stored()
    failed = store.values("crashy")
    assert failed["trainer/status"] == "failed"
    assert failed["trainer/error/type"] == "builtins.RuntimeError"
    assert failed["trainer/error/message"] == "simulated crash at step 3"
    traceback = failed["trainer/error/traceback"]
    assert traceback.startswith("Traceback") and "_failure.py" not in traceback
    assert 'raise self.error(f"simulated crash at step {self.step}")' in traceback
    assert sorted(store.metric("crashy", "train/loss")) == [1.0, 2.0]  # crashed before logging 3

    assert fork_id.startswith("crashy-resume2-")
    details = store.details(fork_id)
    assert details["experiment"] == "resumable"
    assert details["is_head"]  # the resumed run now heads the experiment
    assert details["lineage"]["parent"] == "crashy"
    assert details["lineage"]["fork_step"] == 2
    assert store.values(fork_id)["trainer/status"] == "succeeded"
    assert store.values(fork_id)["trainer/resumed_from_step"] == 2
    # The fork's own points start after the restored step; with lineage, the parent's up to it.
    assert sorted(store.metric(fork_id, "train/loss", lineage=False)) == [3.0, 4.0, 5.0, 6.0]
    assert sorted(store.metric(fork_id, "train/loss")) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_hyperparameter_search_gives_each_trial_a_run_with_a_shared_group_tag(
    make_args: Any, stored: Any
) -> None:
    pytest.importorskip("optuna")
    from hf_tiny import accuracy, tiny_bert

    callback = NeptuneScaleCallback(
        run_id="search", experiment_name="bert-hpo", log_checkpoints="last"
    )
    trainer = transformers.Trainer(
        model_init=lambda trial=None: tiny_bert(),
        args=make_args(max_steps=2, save_strategy="steps", save_steps=2),
        train_dataset=TinyClassification(32, seed=1),
        eval_dataset=TinyClassification(16, seed=2),
        compute_metrics=accuracy,
        callbacks=[callback],
    )
    best = trainer.hyperparameter_search(
        hp_space=lambda t: {
            "learning_rate": t.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
        },
        backend="optuna",
        n_trials=2,
        direction="minimize",
        compute_objective=lambda metrics: metrics["eval_loss"],
    )
    callback.close()

    store = stored()
    run_ids = store.run_ids()
    assert len(run_ids) == 2 and all(r.startswith("search-trial") for r in run_ids)
    group_tags = [set(store.details(r)["group_tags"]) for r in run_ids]
    assert group_tags[0] == group_tags[1] and len(group_tags[0]) == 1
    by_number = {store.values(r)["trial/number"]: r for r in run_ids}
    assert set(by_number) == {0, 1}
    best_run = store.values(by_number[int(best.run_id)])
    assert best_run["trial/params/learning_rate"] == pytest.approx(
        best.hyperparameters["learning_rate"]
    )
    assert best_run["trainer/args/learning_rate"] == pytest.approx(
        best.hyperparameters["learning_rate"]
    )
    # The best trial is found from the runs table: the lowest objective (direction minimize).
    found = min(run_ids, key=lambda r: store.values(r)["trial/objective"])
    assert found == by_number[int(best.run_id)]
    assert store.values(found)["trial/objective"] == pytest.approx(best.objective)
    for run_id in run_ids:
        assert store.details(run_id)["experiment"] == "bert-hpo"
        # the objective's evaluate() ran after on_train_end and still landed in the trial's run
        assert set(store.metric(run_id, "eval/loss")) == {2.0}
        values = store.values(run_id)
        assert values["trial/objective"] == pytest.approx(values["eval/final/loss"])
        assert values["checkpoints/last/step"] == 2


def test_nothing_is_logged_off_the_main_process(
    make_trainer: Any, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    callback = NeptuneScaleCallback(run_id="rank1", log_checkpoints="all")
    trainer = make_trainer(callback, save_strategy="steps", save_steps=3)
    # A single CPU process cannot be rank 1 for real; the Trainer asks this method, and the
    # callback sees the answer in state.is_world_process_zero, as under DDP.
    monkeypatch.setattr(trainer, "is_world_process_zero", lambda: False)
    trainer.train()
    trainer.evaluate()
    assert callback.run is None
    assert not (store_dir / "despina.sqlite3").exists()


def test_callback_pickles_without_its_run(make_trainer: Any) -> None:
    callback = NeptuneScaleCallback(run_id="pickled", mode="disabled")
    make_trainer(callback, max_steps=1).train()
    assert callback.run is not None
    copy = pickle.loads(pickle.dumps(callback))
    assert copy.run is None
    callback.close()


def test_offline_run_keeps_checkpoint_copies_until_neptune_sync(
    make_trainer: Any, stored: Any, store_dir: Path, tmp_path: Path
) -> None:
    from neptune_scale.cli import main as neptune_cli

    callback = NeptuneScaleCallback(run_id="offline", mode="offline", log_checkpoints="last")
    trainer = make_trainer(callback, save_strategy="steps", save_steps=3, save_total_limit=1)
    trainer.train()
    callback.close()
    kept = list((store_dir / "hf-checkpoints").rglob("last-6/model.safetensors"))
    assert len(kept) == 1  # the upload happens at sync time: the copy must still be there

    assert neptune_cli(["sync", str(store_dir)]) == 0
    files = stored().download("offline", "^checkpoints/last/", tmp_path / "downloaded")
    uploaded = files["checkpoints/last/model.safetensors"].read_bytes()
    assert uploaded == kept[0].read_bytes()
