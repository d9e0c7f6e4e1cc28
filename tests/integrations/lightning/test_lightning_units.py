"""The logger's pure parts: step guard, metric batches, hyperparameter flattening, policies."""

from __future__ import annotations

import math
import pickle
from argparse import Namespace
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
from despina_lightning import NeptuneScaleLogger
from despina_lightning._checkpoints import resolve_policy
from despina_lightning._metrics import MetricBatcher
from despina_lightning._values import MAX_STRING_BYTES, flatten_params
from neptune_scale.integrations import StepGuard, Verdict


def test_guard_accepts_increasing_and_skips_exact_repeats() -> None:
    guard = StepGuard()
    assert guard.admit("epoch", 3, 0.0) is Verdict.ACCEPT
    # Lightning sends `epoch` with train, validation and epoch-end metrics at one step.
    assert guard.admit("epoch", 3, 0.0) is Verdict.DUPLICATE
    assert guard.admit("epoch", 4, 1.0) is Verdict.ACCEPT
    assert guard.admit("loss", 4, math.nan) is Verdict.ACCEPT
    assert guard.admit("loss", 4, math.nan) is Verdict.DUPLICATE
    assert sum(guard.dropped.values()) == 0
    assert guard.last_step == 4


def test_guard_drops_and_counts_conflicting_or_decreasing_steps() -> None:
    guard = StepGuard()
    guard.admit("val/loss", 7, 0.5)
    assert guard.admit("val/loss", 7, 0.4) is Verdict.STALE
    assert guard.admit("val/loss", 2, 0.4) is Verdict.STALE
    assert guard.admit("other", 2, 0.4) is Verdict.ACCEPT  # series are independent
    assert guard.dropped == {"val/loss": 2}


def test_guard_floor_is_the_fork_step() -> None:
    guard = StepGuard(floor=7)
    assert guard.admit("loss", 7, 1.0) is Verdict.STALE
    assert guard.admit("loss", 8, 1.0) is Verdict.ACCEPT


def test_batch_keeps_non_finite_drops_non_numeric_and_counts() -> None:
    batcher = MetricBatcher()
    prepared = batcher.prepare({"a": math.inf, "b": "text", "c": 2, "d": math.nan}, 0)
    assert prepared is not None
    assert prepared.step == 0
    assert prepared.data["a"] == math.inf and math.isnan(prepared.data["d"])
    assert prepared.data["c"] == 2.0 and "b" not in prepared.data
    counts = batcher.problem_counts()
    assert counts["non_numeric_values"] == 1 and counts["non_finite_values"] == 2


def test_batch_with_invalid_step_is_dropped_and_counted() -> None:
    batcher = MetricBatcher()
    assert batcher.prepare({"a": 1.0, "b": 2.0}, -1) is None
    assert batcher.prepare({"a": 1.0}, 1e12) is None
    assert batcher.prepare({"a": 1.0}, math.nan) is None
    assert batcher.problem_counts()["invalid_step_points"] == 4


def test_batch_without_step_continues_after_the_highest() -> None:
    batcher = MetricBatcher()
    batcher.prepare({"a": 1.0}, 5)
    prepared = batcher.prepare({"b": 1.0}, None)
    assert prepared is not None and prepared.step == 6


def test_tensor_values_and_steps_are_unwrapped() -> None:
    torch = pytest.importorskip("torch")
    batcher = MetricBatcher()
    prepared = batcher.prepare({"a": torch.tensor(0.25)}, torch.tensor(3))
    assert prepared is not None and prepared.data == {"a": 0.25} and prepared.step == 3


@dataclass
class _Optim:
    name: str
    betas: tuple[float, float]


def test_flatten_keeps_types_and_nests() -> None:
    when = datetime(2026, 1, 2, tzinfo=timezone.utc)
    params = {
        "lr": 0.1,
        "layers": [64, 32],
        "flag": True,
        "n": 3,
        "none": None,
        "when": when,
        "optim": _Optim("adam", (0.9, 0.99)),
        "ns": Namespace(a=1, b={"c": "x"}),
        "empty": {},
        "huge": 2**70,
        "fn": math.sqrt,
    }
    flat = flatten_params(params, "training/hyperparams")
    p = "training/hyperparams"
    assert flat[f"{p}/lr"] == 0.1 and flat[f"{p}/flag"] is True and flat[f"{p}/n"] == 3
    assert flat[f"{p}/layers"] == "[64, 32]"
    assert f"{p}/none" not in flat  # not set: left out (the integration kit's rule)
    assert flat[f"{p}/when"] == when
    assert flat[f"{p}/optim/name"] == "adam" and flat[f"{p}/optim/betas"] == "(0.9, 0.99)"
    assert flat[f"{p}/ns/a"] == 1 and flat[f"{p}/ns/b/c"] == "x"
    assert not [path for path in flat if path.startswith(f"{p}/empty")]
    assert flat[f"{p}/huge"] == str(2**70)
    assert flat[f"{p}/fn"] == "math.sqrt"


def test_flatten_truncates_long_text_and_skips_long_paths() -> None:
    flat = flatten_params({"text": "é" * MAX_STRING_BYTES, "k" * 1100: 1})
    assert len(str(flat["text"]).encode("utf-8")) <= MAX_STRING_BYTES
    assert str(flat["text"]).endswith("[truncated]")
    assert list(flat) == ["text"]


def test_flatten_rejects_non_mappings() -> None:
    with pytest.raises(TypeError, match="hyperparameters must be"):
        flatten_params([1, 2])


def test_policy_names() -> None:
    assert resolve_policy(True) == "best" and resolve_policy(False) == "none"
    assert resolve_policy("all") == "all"
    with pytest.raises(ValueError, match="log_model_checkpoints must be"):
        resolve_policy("sometimes")


def test_constructor_rejects_contradictions() -> None:
    with pytest.raises(ValueError, match=r"run= .*\['run_id', 'mode'\]"):
        NeptuneScaleLogger(run=object(), run_id="x", mode="offline")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tags must be"):
        NeptuneScaleLogger(tags="one-string")
    with pytest.raises(TypeError, match="group_tags must be"):
        NeptuneScaleLogger(group_tags=[1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="system_metrics interval must be at least"):
        NeptuneScaleLogger(system_metrics=0.0, mode="disabled")._create_run(None)


def test_public_names() -> None:
    import despina_lightning

    assert despina_lightning.__all__ == ["NeptuneScaleLogger"]


def test_logger_pickles_before_the_run_exists() -> None:
    logger = NeptuneScaleLogger(run_id="r-1", experiment_name="e", tags=["t"], prefix="p/")
    copy = pickle.loads(pickle.dumps(logger))
    assert copy.version == "r-1" and copy.name == "e" and copy._path("x") == "p/x"
    assert copy._run is None
