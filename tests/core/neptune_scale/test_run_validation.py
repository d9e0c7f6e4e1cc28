"""Programmer errors raise at the call with the field and the limit (protocol §7.1)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from neptune_scale import Run

MakeRun = Callable[..., Run]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"project": "no-slash"}, ValueError, "workspace/project"),
        ({"project": "a/b/c"}, ValueError, "exactly one '/'"),
        ({"project": "/b"}, ValueError, "workspace/project"),
        ({"project": 5}, TypeError, "project must be a str"),
        ({"run_id": ""}, ValueError, "run_id must not be empty"),
        ({"run_id": "a/b"}, ValueError, "must not contain '/'"),
        ({"run_id": "x" * 731}, ValueError, "at most 730 bytes"),
        ({"experiment_name": "e" * 731}, ValueError, "experiment_name must be at most 730"),
        ({"fork_run_id": "parent"}, ValueError, "fork_run_id and fork_step"),
        ({"fork_step": 3}, ValueError, "fork_run_id and fork_step"),
        ({"fork_run_id": "p", "fork_step": -1}, ValueError, "fork_step < 1e12"),
        ({"resume": True, "fork_run_id": "p", "fork_step": 1}, ValueError, "resume"),
        ({"mode": "online"}, ValueError, "mode must be one of"),
        ({"max_queue_size": 0}, ValueError, "max_queue_size"),
        ({"async_lag_threshold": 0}, ValueError, "async_lag_threshold"),
        ({"on_error_callback": "print"}, TypeError, "on_error_callback must be callable"),
        ({"creation_time": "yesterday"}, TypeError, "datetime"),
    ],
)
def test_bad_constructor_arguments(
    make_run: MakeRun, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        make_run(**kwargs)


def test_server_mode_needs_a_project(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="project is required"):
        Run(api_token="token", log_directory=tmp_path)


@pytest.mark.parametrize(
    "step, error, match",
    [
        (-1, ValueError, "0 <= step < 1e12"),
        (1e12, ValueError, "0 <= step < 1e12"),
        (math.nan, ValueError, "NaN"),
        ("3", TypeError, "int or float"),
        (None, TypeError, "int or float"),
        (True, TypeError, "int or float"),
    ],
)
def test_bad_steps_raise(make_run: MakeRun, step: Any, error: type[Exception], match: str) -> None:
    run = make_run()
    with pytest.raises(error, match=match):
        run.log_metrics({"m": 1.0}, step=step)
    with pytest.raises(error, match=match):
        run.log_string_series({"s": "x"}, step=step)


def test_numpy_steps_and_values_are_accepted(make_run: MakeRun, memory: Any) -> None:
    np = pytest.importorskip("numpy")
    run = make_run(run_id="np")
    run.log_metrics({"m": np.float32(0.5), "i": np.int64(3)}, step=np.int64(7))
    run.close()
    assert memory.metric_points("np", "m") == [(7.0, 0.5)]
    assert memory.metric_points("np", "i") == [(7.0, 3.0)]


def test_other_call_errors(make_run: MakeRun) -> None:
    run = make_run()
    with pytest.raises(TypeError, match="data must be a dict"):
        run.log_metrics([("m", 1.0)], step=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"preview_completion must be a float in \[0, 1\]"):
        run.log_metrics({"m": 1.0}, step=1, preview=True, preview_completion=1.5)
    with pytest.raises(ValueError, match="needs preview=True"):
        run.log_metrics({"m": 1.0}, step=1, preview_completion=0.5)
    with pytest.raises(TypeError, match="timestamp must be a datetime"):
        run.log_metrics({"m": 1.0}, step=1, timestamp=123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="all its items must be str"):
        run.log_configs({"l": ["a", 2]})


def test_previews_and_explicit_timestamps(make_run: MakeRun, memory: Any) -> None:
    run = make_run(run_id="pv")
    when = datetime(2025, 5, 1, 12, 0, 0).astimezone()
    run.log_metrics({"m": 0.1}, step=1, preview=True, preview_completion=0.25, timestamp=when)
    run.log_metrics({"m": 0.2}, step=1, timestamp=when)
    run.close()
    first, second = [s for s in memory.snapshots("pv") if "m" in s.append]
    assert first.preview.is_preview and math.isclose(first.preview.completion_ratio, 0.25)
    assert not second.HasField("preview")
    assert first.timestamp.seconds == int(when.timestamp())


def test_closed_run_drops_with_one_warning(make_run: MakeRun, caplog: Any) -> None:
    run = make_run()
    run.close()
    run.log_metrics({"m": 1.0}, step=1)
    run.log_metrics({"m": 1.0}, step=2)
    assert sum("is closed" in r.message for r in caplog.records) == 1
