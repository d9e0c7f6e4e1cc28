"""The integration kit (``neptune_scale.integrations``): the one behaviour of the step guard,
error containment and config flattening that Flyte, Lightning, HF and third parties share."""

from __future__ import annotations

import json
import logging
import math
from argparse import Namespace
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path

import pytest
from neptune_scale import Run, integrations
from neptune_scale.integrations import (
    MAX_STRING_BYTES,
    Containment,
    StepGuard,
    Verdict,
    config_value,
    flatten,
    flatten_configs,
)


def test_the_public_surface_is_pinned() -> None:
    assert sorted(integrations.__all__) == sorted(
        [
            "MAX_PATH_BYTES", "MAX_STRING_BYTES", "ConfigValue", "Containment", "StepGuard",
            "Verdict", "config_value", "flatten", "flatten_configs", "truncate_text",
        ]
    )  # fmt: skip


def test_guard_accepts_rising_steps_and_skips_exact_repeats_silently(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = StepGuard()
    assert guard.admit("epoch", 3, 0.0) is Verdict.ACCEPT
    assert guard.admit("epoch", 3, 0.0) is Verdict.DUPLICATE
    assert guard.admit("loss", 4, math.nan) is Verdict.ACCEPT
    assert guard.admit("loss", 4, math.nan) is Verdict.DUPLICATE  # NaN repeats NaN
    assert guard.admit("note", 4, "text") is Verdict.ACCEPT  # string series too
    assert guard.admit("note", 4, "text") is Verdict.DUPLICATE
    assert not guard.dropped and not caplog.records
    assert guard.last_step == 4


def test_guard_drops_stale_points_counts_each_and_warns_once_per_series(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = StepGuard(logger=logging.getLogger("kit-test"), hint="try a new run")
    guard.admit("val/loss", 7, 0.5)
    assert guard.admit("val/loss", 7, 0.4) is Verdict.STALE  # a different value, same step
    assert guard.admit("val/loss", 2, 0.4) is Verdict.STALE
    assert guard.admit("other", 2, 0.4) is Verdict.ACCEPT  # series are independent
    assert guard.dropped == {"val/loss": 2}
    warnings = [r for r in caplog.records if r.name == "kit-test"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "Dropping val/loss at step 7" in warnings[0].getMessage()
    assert warnings[0].getMessage().endswith("; try a new run")


def test_guard_floor_is_the_fork_step_and_quiet_paths_are_neither_warned_nor_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = StepGuard(floor=10)
    assert guard.admit_all({"a": 1.0, "b": 2.0}, 10, quiet=["b"]) == {}
    assert guard.dropped == {"a": 1}
    assert "Dropping a" in caplog.text and "Dropping b" not in caplog.text
    assert guard.admit_all({"a": 1.0, "b": 2.0}, 11) == {"a": 1.0, "b": 2.0}


def test_guard_state_travels_between_processes_as_json() -> None:
    mine, theirs = StepGuard(), StepGuard()
    mine.admit("a", 1, 1.0)
    theirs.admit("a", 5, 2.0)
    theirs.admit("b", 2, "x")
    theirs.admit("b", 1, "y")
    mine.merge(json.loads(json.dumps(theirs.export())))
    assert mine.admit("a", 5, 3.0) is Verdict.STALE  # their later point wins
    assert mine.admit("b", 2, "x") is Verdict.DUPLICATE
    assert mine.last_step == 5 and mine.dropped["b"] >= 1


def test_containment_logs_counts_and_swallows_unless_strict(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit = Containment(logging.getLogger("kit-test"), work="the task")
    with kit.contained("logging metrics"):
        raise OSError("No space left on device")
    assert kit.failures == {"logging metrics": 1}
    record = caplog.records[-1]
    assert record.name == "kit-test" and record.exc_info is not None
    assert record.getMessage() == (
        "Neptune tracking failed while logging metrics; the task goes on"
    )
    assert kit.set_strict(True) is False  # the previous setting, for a test to restore
    with pytest.raises(OSError), kit.contained("logging metrics"):
        raise OSError("No space left on device")
    assert kit.failures == {"logging metrics": 2}  # counted in strict mode too
    monkeypatch.setenv("KIT_TEST_STRICT", "1")
    assert Containment(logging.getLogger("kit-test"), strict_env="KIT_TEST_STRICT").strict
    with pytest.raises(KeyboardInterrupt), kit.contained("anything"):  # never swallowed
        raise KeyboardInterrupt


class Kind(Enum):
    COSINE = "cosine"


@dataclass
class Optim:
    name: str
    betas: tuple[float, float]


@dataclass
class Layer:
    width: int
    name: str


def test_flatten_nests_mappings_dataclasses_and_namespaces_and_keeps_values() -> None:
    data = {"a": {"b": 1, "c": {"d": None}}, "o": Optim("adam", (0.9, 0.99)), "n": Namespace(x=2)}
    assert flatten(data, "p") == {
        "p/a/b": 1, "p/a/c/d": None, "p/o/name": "adam", "p/o/betas": (0.9, 0.99), "p/n/x": 2,
    }  # fmt: skip
    assert flatten(Optim("sgd", (0.0, 0.0))) == {"name": "sgd", "betas": (0.0, 0.0)}
    assert flatten({"empty": {}}) == {}
    with pytest.raises(TypeError, match="data must be a mapping, dataclass or Namespace"):
        flatten([1, 2])


def test_config_values_keep_types_the_run_holds_and_text_for_the_rest() -> None:
    when = datetime(2026, 1, 2, tzinfo=timezone.utc)
    assert config_value(None) is None
    assert config_value(True) is True and config_value(3) == 3 and config_value(0.5) == 0.5
    assert config_value(when) == when
    assert config_value(Kind.COSINE) == "cosine"
    assert config_value({"b", "a"}) == ["a", "b"]  # a string set
    assert config_value([64, 32]) == "[64, 32]" and config_value((0.9, 0.99)) == "(0.9, 0.99)"
    assert config_value(2**70) == str(2**70)  # beyond int64
    assert config_value(Path("/data")) == "/data"
    assert config_value(math.sqrt) == "math.sqrt"


def test_flatten_configs_leaves_out_none_and_keeps_within_the_run_limits() -> None:
    data = {"keep": 1, "unset": None, "text": "é" * MAX_STRING_BYTES, "k" * 1100: 1}
    flat = flatten_configs(data)
    assert sorted(flat) == ["keep", "text"]
    assert len(str(flat["text"]).encode()) <= MAX_STRING_BYTES
    assert str(flat["text"]).endswith("[truncated]")


def test_the_client_flattens_configs_with_the_kit(tmp_path: Path) -> None:
    from despina.query import Reader

    data = {"opt": Layer(64, "adam"), "layers": {"hidden": 32, "act": {"name": "relu"}}}
    with Run(
        project="kit/flatten", run_id="r", mode="async", log_directory=tmp_path,
        enable_console_log_capture=False, source_tracking_config=None,
    ) as run:  # fmt: skip
        run.log_configs(data, flatten=True)
    with Reader(tmp_path) as reader:
        configs = reader.run_details("kit/flatten", "r")["configs"]
    expected = {path: config_value(v) for path, v in flatten(data).items()}
    assert {path: configs[path] for path in expected} == expected
