"""Every callback fires with the right exception type; invalid values are dropped or raised."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from neptune_scale import Run
from neptune_scale.exceptions import (
    NeptuneAsyncLagThresholdExceeded,
    NeptuneOperationsQueueMaxSizeExceeded,
    NeptuneRunDuplicate,
    NeptuneScaleWarning,
    NeptuneUnableToLogData,
)
from neptune_scale.testing import MemoryTransport
from neptune_scale.transport import Failed, IngestIssue, Processed

MakeRun = Callable[..., Run]
WAIT_S = 20.0


class Collected:
    def __init__(self) -> None:
        self.items: list[tuple[BaseException, float | None]] = []
        self.event = threading.Event()

    def __call__(self, error: BaseException, last_seen_at: float | None) -> None:
        self.items.append((error, last_seen_at))
        self.event.set()

    def first(self) -> BaseException:
        assert self.event.wait(WAIT_S), "callback not called"
        return self.items[0][0]


def test_queue_full_callback(make_run: MakeRun, memory: MemoryTransport) -> None:
    memory.pending_checks = 10**9  # nothing is ever confirmed: the backlog only grows
    full = Collected()
    run = make_run(max_queue_size=5, on_queue_full_callback=full)
    for step in range(20):
        run.log_metrics({"m": 1.0}, step=step)
    error = full.first()
    assert isinstance(error, NeptuneOperationsQueueMaxSizeExceeded)
    assert "max_queue_size=5" in str(error)


def test_async_lag_callback(make_run: MakeRun, memory: MemoryTransport) -> None:
    memory.submit_failures.extend(
        Failed(ConnectionError("down"), retryable=True, retry_after_s=60.0) for _ in range(5)
    )
    lagging = threading.Event()
    run = make_run(
        async_lag_threshold=0.2,
        on_async_lag_callback=lagging.set,
        on_network_error_callback=lambda e, t: None,
    )
    run.log_metrics({"m": 1.0}, step=1)
    assert lagging.wait(WAIT_S)


def test_async_lag_without_callback_goes_to_warnings(
    make_run: MakeRun, memory: MemoryTransport
) -> None:
    memory.submit_failures.extend(
        Failed(ConnectionError("down"), retryable=True, retry_after_s=60.0) for _ in range(5)
    )
    warnings = Collected()
    run = make_run(
        async_lag_threshold=0.2,
        on_warning_callback=warnings,
        on_network_error_callback=lambda e, t: None,
    )
    run.log_metrics({"m": 1.0}, step=1)
    assert isinstance(warnings.first(), NeptuneAsyncLagThresholdExceeded)


class _IssuingTransport(MemoryTransport):
    """Reports the given ingest codes for every request, as a store or server would."""

    def __init__(self, codes: Sequence[int]) -> None:
        super().__init__()
        self.codes = codes

    def check(self, project: str, request_ids: Sequence[str]) -> list[Processed | None] | Failed:
        issues = tuple(IngestIssue(code, "some/path", "") for code in self.codes)
        return [Processed(issues) for _ in request_ids]


def test_warning_callback_gets_warnings_with_codes(tmp_path: Path) -> None:
    warnings = Collected()
    run = Run(
        project="ws/p",
        run_id="dup",
        log_directory=tmp_path,
        transport=_IssuingTransport([11]),
        on_warning_callback=warnings,
        enable_console_log_capture=False,
        source_tracking_config=None,
    )
    error = warnings.first()
    run.close()
    assert isinstance(error, NeptuneRunDuplicate) and isinstance(error, NeptuneScaleWarning)
    assert error.code == 11
    assert len(warnings.items) >= 1


def test_last_seen_at_is_passed_on_repeats(tmp_path: Path) -> None:
    errors = Collected()
    run = Run(
        project="ws/p",
        run_id="r",
        log_directory=tmp_path,
        transport=_IssuingTransport([25, 25]),
        on_error_callback=errors,
        enable_console_log_capture=False,
        source_tracking_config=None,
    )
    run.log_metrics({"m": 1.0}, step=1)
    run.close()
    assert len(errors.items) >= 2
    assert errors.items[0][1] is None
    assert isinstance(errors.items[1][1], float)


def test_a_raising_callback_does_not_stop_delivery(tmp_path: Path) -> None:
    memory = _IssuingTransport([25])

    def bad_callback(error: BaseException, last: float | None) -> None:
        raise RuntimeError("user bug")

    run = Run(
        project="ws/p",
        run_id="r",
        log_directory=tmp_path,
        transport=memory,
        on_error_callback=bad_callback,
        enable_console_log_capture=False,
        source_tracking_config=None,
    )
    for step in range(5):
        run.log_metrics({"m": 1.0}, step=step)
    assert run.wait_for_processing(timeout=WAIT_S)
    run.close()
    assert len(memory.metric_points("r", "m")) == 5


def test_invalid_values_are_dropped_and_reported(
    make_run: MakeRun, memory: MemoryTransport
) -> None:
    warnings = Collected()
    run = make_run(run_id="r", on_warning_callback=warnings)
    run.log_metrics({"good": 1.0, "bad": "not a number"}, step=1)
    run.log_configs({"ok": 1, "odd": object()})
    run.close()
    error = warnings.first()
    assert isinstance(error, NeptuneUnableToLogData)
    assert "'bad'" in str(error)
    assert memory.metric_points("r", "good") == [(1.0, 1.0)]
    assert "bad" not in {k for s in memory.snapshots("r") for k in s.append}
    assert memory.configs("r") == {"ok": 1}


def test_failure_action_raise(make_run: MakeRun, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEPTUNE_LOG_FAILURE_ACTION", "raise")
    run = make_run()
    with pytest.raises(NeptuneUnableToLogData, match="'bad'"):
        run.log_metrics({"bad": None}, step=1)
    with pytest.raises(NeptuneUnableToLogData, match="unsupported type"):
        run.log_configs({"x": None})
    with pytest.raises(NeptuneUnableToLogData, match="1024 bytes"):
        run.log_metrics({"p" * 1025: 1.0}, step=2)


def test_numeric_strings_are_numbers_as_in_the_official_client(
    make_run: MakeRun, memory: MemoryTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """neptune-scale 0.30.0 converts metric values with ``float()`` (its MetadataSplitter), so
    ``"1.5"`` logs 1.5 there; a drop-in does the same. A string ``float()`` refuses is an
    invalid value like any other: dropped and reported, or raised under ``raise``."""
    warnings = Collected()
    run = make_run(run_id="s", on_warning_callback=warnings)
    run.log_metrics({"a": "1.5", "b": " 2e3 "}, step=1)
    run.log_metrics({"a": "1.5x", "b": 3.0}, step=2)
    run.close()
    assert memory.metric_points("s", "a") == [(1.0, 1.5)]
    assert memory.metric_points("s", "b") == [(1.0, 2000.0), (2.0, 3.0)]
    error = warnings.first()
    assert isinstance(error, NeptuneUnableToLogData)
    assert "'a'" in str(error) and "must be a number" in str(error)
    monkeypatch.setenv("NEPTUNE_LOG_FAILURE_ACTION", "raise")
    strict = make_run(run_id="t")
    strict.log_metrics({"a": "0.25"}, step=1)
    with pytest.raises(NeptuneUnableToLogData, match="'a'"):
        strict.log_metrics({"a": "1.5x"}, step=2)
    strict.close()
    assert memory.metric_points("t", "a") == [(1.0, 0.25)]
