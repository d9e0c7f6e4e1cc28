"""The pieces that need no run: log-key mapping, the step guard, config flattening, policies."""

from __future__ import annotations

import math
from typing import Any

import pytest
from despina_hf import CheckpointPolicy, NeptuneScaleCallback
from despina_hf._configs import model_configs, parameter_counts, trainer_arg_configs
from despina_hf._metrics import is_timing, split_logs
from hf_tiny import tiny_bert
from neptune_scale.integrations import StepGuard


def test_split_logs_routes_prefixes_to_namespaces_and_summaries_to_configs() -> None:
    split = split_logs(
        {
            "loss": 0.5,
            "eval_loss": 0.4,
            "test_accuracy": 1,
            "epoch": 0.25,
            "train_runtime": 1.5,
            "total_flos": 10,
            "note": "text",
            "weird": object(),
        }
    )
    assert split.metrics == {
        "train/loss": 0.5,
        "eval/loss": 0.4,
        "test/accuracy": 1.0,
        "train/epoch": 0.25,
    }
    assert split.summaries == {"train/train_runtime": 1.5, "train/total_flos": 10.0}
    assert split.strings == {"train/note": "text"}
    assert split.unsupported == {"train/weird": "object"}


def test_step_guard_drops_repeats_silently_and_conflicts_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = StepGuard()
    assert guard.admit_all({"a": 1.0, "b": 2.0}, 3) == {"a": 1.0, "b": 2.0}
    assert guard.admit_all({"a": 1.0}, 3) == {}  # the Trainer repeating itself: nothing lost
    assert "Dropping" not in caplog.text
    assert guard.admit_all({"b": 5.0, "c": 1.0}, 3) == {"c": 1.0}  # b at 3 already holds 2.0
    assert "Dropping b at step 3" in caplog.text
    assert guard.admit_all({"a": math.nan}, 4) == {"a": pytest.approx(math.nan, nan_ok=True)}
    assert guard.admit_all({"a": math.nan}, 4) == {}
    caplog.clear()
    timing = {"eval/runtime": 0.7}
    assert guard.admit_all({"eval/runtime": 0.5}, 5) == {"eval/runtime": 0.5}
    # A second evaluate() at the same step: speed figures differ by nature, the events pass
    # them as quiet.
    assert guard.admit_all(timing, 5, quiet=[p for p in timing if is_timing(p)]) == {}
    assert "Dropping" not in caplog.text


def test_step_guard_of_a_fork_refuses_steps_up_to_the_fork_step() -> None:
    guard = StepGuard(floor=10)
    assert guard.admit_all({"train/loss": 1.0}, 10) == {}
    assert guard.admit_all({"train/loss": 1.0}, 11) == {"train/loss": 1.0}


def test_configs_keep_types_and_flatten(make_args: Any) -> None:
    args = make_args(learning_rate=3e-4, report_to="none", hub_token="secret-token")
    configs = trainer_arg_configs(args)
    assert configs["trainer/args/learning_rate"] == 3e-4
    assert configs["trainer/args/max_steps"] == 6
    assert configs["trainer/args/use_cpu"] is True
    assert configs["trainer/args/lr_scheduler_type"] == "linear"  # an enum, stored as its value
    assert "secret-token" not in {str(v) for v in configs.values()}
    assert all(v is not None for v in configs.values())

    model = tiny_bert()
    model_values = model_configs(model)
    assert model_values["model/config/hidden_size"] == 32
    assert model_values["model/config/num_hidden_layers"] == 2
    assert model_values["model/config/id2label/0"] == "LABEL_0"
    counts = parameter_counts(model)
    expected = sum(p.numel() for p in model.parameters())
    assert counts == {
        "model/num_parameters": expected,
        "model/num_trainable_parameters": expected,
    }


def test_peft_config_and_trainable_count() -> None:
    peft = pytest.importorskip("peft")
    model = peft.get_peft_model(
        tiny_bert(),
        peft.LoraConfig(r=2, lora_alpha=4, target_modules=["query", "value"], task_type="SEQ_CLS"),
    )
    values = model_configs(model)
    assert values["model/peft_config/default/r"] == 2
    assert values["model/peft_config/default/target_modules"] == ["query", "value"]  # a set
    assert values["model/config/hidden_size"] == 32
    counts = parameter_counts(model)
    assert 0 < counts["model/num_trainable_parameters"] < counts["model/num_parameters"]


def test_checkpoint_policy_is_checked_at_construction() -> None:
    assert CheckpointPolicy.parse(None) is CheckpointPolicy.NONE
    assert CheckpointPolicy.parse("same") is CheckpointPolicy.ALL  # transformers' old name
    assert CheckpointPolicy.parse("best") is CheckpointPolicy.BEST
    with pytest.raises(ValueError, match="log_checkpoints must be one of"):
        NeptuneScaleCallback(log_checkpoints="some")


def test_best_policy_needs_a_metric_at_trainer_construction(make_trainer: Any) -> None:
    with pytest.raises(ValueError, match="metric_for_best_model"):
        make_trainer(NeptuneScaleCallback(log_checkpoints="best"))


def test_checkpoint_state_is_json_and_holds_no_token() -> None:
    import json

    callback = NeptuneScaleCallback(api_token="very-secret", run_id="r1", mode="async")
    text = json.dumps(callback.state())
    assert "very-secret" not in text
    assert json.loads(text)["args"]["run_id"] == "r1"


def test_public_names_are_pinned() -> None:
    import despina_hf

    assert despina_hf.__all__ == ["CheckpointPolicy", "NeptuneScaleCallback", "set_strict"]
