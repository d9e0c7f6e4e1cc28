"""Run lifecycle corners: a callback added late, a run passed in, evaluate() before train(),
and the exit-time backstop for a training that never ended. Real Trainer, real store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from despina_hf import NeptuneScaleCallback
from hf_tiny import PROJECT, FailAtStep
from neptune_scale import Run

HERE = Path(__file__).parent


def test_callback_added_later_records_failure_once_watched(make_trainer: Any, stored: Any) -> None:
    unwatched = NeptuneScaleCallback(run_id="late-unwatched")
    trainer = make_trainer(FailAtStep(2))
    trainer.add_callback(unwatched)
    with pytest.raises(RuntimeError):
        trainer.train()
    unwatched.close()  # no wrapper saw the exception: close() still knows training never ended

    watched = NeptuneScaleCallback(run_id="late-watched")
    trainer = make_trainer(FailAtStep(2))
    trainer.add_callback(watched)
    watched.watch(trainer)
    watched.watch(trainer)  # idempotent: one wrapper, one record
    with pytest.raises(RuntimeError):
        trainer.train()

    store = stored()
    assert store.values("late-unwatched")["trainer/status"] == "failed"
    assert store.values("late-unwatched")["trainer/error/message"] == "train() did not finish"
    recorded = store.values("late-watched")
    assert recorded["trainer/status"] == "failed"
    assert recorded["trainer/error/message"] == "simulated crash at step 2"


def test_callback_added_later_records_the_real_error(make_trainer: Any, stored: Any) -> None:
    callback = NeptuneScaleCallback(run_id="late-real")
    trainer = make_trainer(FailAtStep(2, OSError))
    trainer.add_callback(callback)  # no on_init_end: the running train() cannot be wrapped
    with pytest.raises(OSError):
        try:
            trainer.train()
        finally:
            callback.close()  # the exception is still held here: it is this train()'s
    with pytest.raises(OSError):
        trainer.train()  # watched from the first on_train_begin on: closed when it fails
    assert callback.run is None

    store = stored()
    run_ids = store.run_ids()
    assert len(run_ids) == 2 and "late-real" in run_ids
    for run_id in run_ids:
        recorded = store.values(run_id)
        assert recorded["trainer/status"] == "failed"
        assert recorded["trainer/error/type"] == "builtins.OSError"
        assert recorded["trainer/error/message"] == "simulated crash at step 2"
        assert "in on_step_end" in recorded["trainer/error/traceback"]


def test_a_run_passed_in_is_used_and_left_open(make_trainer: Any, stored: Any) -> None:
    run = Run(run_id="mine", experiment_name="own-run")
    run.log_configs({"notes/owner": "the user"})
    callback = NeptuneScaleCallback(run=run)
    trainer = make_trainer(callback, max_steps=3)
    trainer.train()
    assert NeptuneScaleCallback.get_run(trainer) is run
    callback.close()  # the user's run: waited for, not closed
    run.log_configs({"notes/after": "still open"})
    run.close()

    store = stored()
    assert store.run_ids() == ["mine"]
    values = store.values("mine")
    assert values["notes/owner"] == "the user" and values["notes/after"] == "still open"
    assert values["trainer/status"] == "succeeded"
    assert sorted(store.metric("mine", "train/loss")) == [1.0, 2.0, 3.0]


def test_evaluate_before_train_opens_the_run_training_then_uses(
    make_trainer: Any, stored: Any
) -> None:
    callback = NeptuneScaleCallback(run_id="eval-first")
    trainer = make_trainer(callback, max_steps=2)
    trainer.evaluate()  # baseline at step 0
    trainer.train()
    trainer.evaluate()
    callback.close()

    store = stored()
    assert store.run_ids() == ["eval-first"]
    assert sorted(store.metric("eval-first", "eval/loss")) == [0.0, 2.0]
    assert store.values("eval-first")["model/config/hidden_size"] == 32


@pytest.mark.slow
def test_training_cut_short_is_marked_failed_at_exit(store_dir: Path, tmp_path: Path) -> None:
    # A callback added after construction (never wrapped around this train() call) and an
    # exception nobody catches: the exit-time backstop finds it and records it.
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(HERE)!r})
        import transformers
        from despina_hf import NeptuneScaleCallback
        from hf_tiny import FailAtStep, TinyClassification, tiny_bert

        args = transformers.TrainingArguments(
            output_dir={str(tmp_path / "out")!r}, report_to="none", max_steps=4,
            logging_steps=1, use_cpu=True, disable_tqdm=True, save_strategy="no",
        )
        trainer = transformers.Trainer(
            model=tiny_bert(), args=args, train_dataset=TinyClassification(32, seed=1),
            callbacks=[FailAtStep(3, OSError)],
        )
        trainer.add_callback(NeptuneScaleCallback(run_id="cut-short"))
        trainer.train()
        """
    )
    env = {**os.environ, "NEPTUNE_LOG_DIRECTORY": str(store_dir), "NEPTUNE_PROJECT": PROJECT}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 1 and "simulated crash at step 3" in done.stderr

    from hf_store import Stored

    store = Stored(store_dir)
    try:
        values = store.values("cut-short")
        assert values["trainer/status"] == "failed"
        assert values["trainer/error/type"] == "builtins.OSError"
        assert values["trainer/error/message"] == "simulated crash at step 3"
        assert "in on_step_end" in values["trainer/error/traceback"]
        assert sorted(store.metric("cut-short", "train/loss")) == [1.0, 2.0]
    finally:
        store.close()


def test_resume_with_restored_callback_state_still_forks(make_trainer: Any, stored: Any) -> None:
    # restore_callback_states_from_checkpoint=True makes the Trainer replace our instance with
    # one rebuilt from the checkpoint's saved arguments: it must still fork the right run.
    first = NeptuneScaleCallback(run_id="restored", log_checkpoints="none")
    make_trainer(first, max_steps=4, save_strategy="steps", save_steps=2).train()
    first.close()

    fresh = NeptuneScaleCallback()
    resumed = make_trainer(
        fresh,
        max_steps=4,
        save_strategy="steps",
        save_steps=2,
        restore_callback_states_from_checkpoint=True,
    )
    resumed.train(resume_from_checkpoint=str(Path(resumed.args.output_dir) / "checkpoint-2"))
    (rebuilt,) = [
        c for c in resumed.callback_handler.callbacks if isinstance(c, NeptuneScaleCallback)
    ]
    assert rebuilt is not fresh  # the Trainer's doing, not ours
    fork_id = rebuilt.run.run_id
    rebuilt.close()

    store = stored()
    assert fork_id.startswith("restored-resume2-")
    assert store.details(fork_id)["lineage"]["parent"] == "restored"
    assert sorted(store.metric(fork_id, "train/loss", lineage=False)) == [3.0, 4.0]


def test_peft_model_logs_its_adapter_config_and_trainable_count(
    make_trainer: Any, stored: Any
) -> None:
    peft = pytest.importorskip("peft")
    from hf_tiny import tiny_bert

    model = peft.get_peft_model(
        tiny_bert(),
        peft.LoraConfig(r=2, lora_alpha=4, target_modules=["query", "value"], task_type="SEQ_CLS"),
    )
    callback = NeptuneScaleCallback(run_id="lora")
    make_trainer(callback, model=model, max_steps=2).train()
    callback.close()

    values = stored().values("lora")
    assert values["model/peft_config/default/r"] == 2
    assert values["model/peft_config/default/target_modules"] == {"query", "value"}
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert values["model/num_trainable_parameters"] == trainable
    assert trainable < values["model/num_parameters"]
