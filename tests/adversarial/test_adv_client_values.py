"""Values a training loop passes must never raise out of ``log_*``: they are dropped and reported
through the warning callback. Names given to ``Run()`` are checked at the call site.

Issue 12, items 7 (NUL characters), 8 (times out of range) and 9 (values whose conversion
raises: a torch meta tensor, a ``__float__`` that fails).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from neptune_scale import Run
from neptune_scale.exceptions import NeptuneUnableToLogData
from neptune_scale.testing import MemoryTransport
from neptune_scale.types import Histogram

torch = pytest.importorskip("torch")


class FailingFloat:
    """A value whose ``__float__`` raises something else than TypeError/ValueError."""

    def __float__(self) -> float:
        raise RuntimeError("__float__ failed")


class FailingStr:
    def __str__(self) -> str:
        raise RuntimeError("__str__ failed")


@pytest.fixture
def warnings_seen() -> list[BaseException]:
    return []


@pytest.fixture
def memory() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
def make_run(
    tmp_path: Path,
    memory: MemoryTransport,
    warnings_seen: list[BaseException],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., Run]]:
    monkeypatch.delenv("NEPTUNE_LOG_FAILURE_ACTION", raising=False)
    runs: list[Run] = []

    def make(**kwargs: Any) -> Run:
        kwargs.setdefault("project", "ws/proj")
        kwargs.setdefault("run_id", f"run-{len(runs)}")
        kwargs.setdefault("enable_console_log_capture", False)
        run = Run(
            log_directory=tmp_path,
            transport=memory,
            source_tracking_config=None,
            on_warning_callback=lambda error, _: warnings_seen.append(error),
            **kwargs,
        )
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.terminate()


def _messages(seen: list[BaseException]) -> str:
    assert all(isinstance(e, NeptuneUnableToLogData) for e in seen), seen
    return "\n".join(str(e) for e in seen)


@pytest.mark.parametrize(
    "bad",
    [torch.empty((), device="meta"), FailingFloat()],
    ids=["torch-meta-tensor", "failing-__float__"],
)
def test_metric_values_whose_conversion_raises_are_dropped_and_reported(
    make_run: Callable[..., Run],
    memory: MemoryTransport,
    warnings_seen: list[BaseException],
    bad: Any,
) -> None:
    run = make_run(run_id="m")
    run.log_metrics({"good": 1.0, "bad": 1.0}, step=1)  # the key set's fast encoder exists
    run.log_metrics({"good": 2.0, "bad": bad}, step=2)  # fast path
    run.log_metrics({"good": 3.0, "bad": bad}, step=3, timestamp=datetime.now(timezone.utc))
    run.log_metrics({"only": bad}, step=4)  # a new key set
    run["attr"].append(bad, step=5)
    run.close()
    assert memory.metric_points("m", "good") == [(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]
    assert memory.metric_points("m", "bad") == [(1.0, 1.0)]
    assert memory.metric_points("m", "only") == []
    messages = _messages(warnings_seen)
    assert messages.count("could not be converted") == 4
    assert "'bad'" in messages and "'only'" in messages and "'attr'" in messages


def test_other_values_whose_conversion_raises_are_dropped_and_reported(
    make_run: Callable[..., Run], memory: MemoryTransport, warnings_seen: list[BaseException]
) -> None:
    run = make_run(run_id="o")
    meta = torch.empty(3, device="meta")
    run.log_configs({"ok": 1, "s": FailingStr()}, cast_unsupported=True)
    run.log_configs({"when": datetime.min}, cast_unsupported=True)  # naive: may not convert
    run.log_histograms({"h": Histogram(bin_edges=meta, counts=meta[:2])}, step=1)

    def failing_tags() -> Iterator[str]:
        yield "a"
        raise RuntimeError("tag iterator failed")

    run.add_tags(failing_tags())  # type: ignore[arg-type]
    run.close()
    assert memory.configs("o")["ok"] == 1
    assert "s" not in memory.configs("o")
    messages = _messages(warnings_seen)
    assert "'s'" in messages and "'h'" in messages and "add_tags" in messages


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"run_id": "a\x00b"}, "run_id"),
        ({"experiment_name": "exp\x00"}, "experiment_name"),
        ({"project": "ws/p\x00"}, "project"),
        ({"fork_run_id": "p\x00", "fork_step": 1}, "fork_run_id"),
        ({"runtime_namespace": "rt\x00"}, "runtime_namespace"),
    ],
)
def test_names_with_nul_raise_at_the_call_site(
    make_run: Callable[..., Run], kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=rf"{field} must not contain NUL"):
        make_run(**kwargs)


def test_nul_in_paths_and_strings_is_dropped_and_reported(
    make_run: Callable[..., Run], memory: MemoryTransport, warnings_seen: list[BaseException]
) -> None:
    run = make_run(run_id="n")
    run.log_metrics({"m\x00": 1.0, "m": 2.0}, step=1)
    run.log_configs({"c\x00": 1, "s": "a\x00b", "set": ["x", "y\x00"], "fine": "ok"})
    run.log_string_series({"text": "line\x00"}, step=1)
    run.add_tags(["t\x00", "t"])
    run.close()
    for snapshot in memory.snapshots("n"):
        assert "\x00" not in str(snapshot)
    assert memory.metric_points("n", "m") == [(1.0, 2.0)]
    assert memory.configs("n") == {"fine": "ok"}
    assert memory.tags("n") == {"t"}
    messages = _messages(warnings_seen)
    assert messages.count("NUL") == 6


@pytest.mark.parametrize(
    "when",
    [datetime(1500, 1, 1, tzinfo=timezone.utc), datetime(2300, 1, 1, tzinfo=timezone.utc)],
)
def test_times_readers_cannot_show_raise_at_the_call_site(
    make_run: Callable[..., Run], when: datetime
) -> None:
    with pytest.raises(ValueError, match="creation_time must lie between the years 1678"):
        make_run(creation_time=when)
    run = make_run()
    with pytest.raises(ValueError, match="timestamp must lie between the years 1678"):
        run.log_metrics({"m": 1.0}, step=1, timestamp=when)


def test_printed_nul_is_kept_as_a_visible_mark(
    make_run: Callable[..., Run], memory: MemoryTransport, warnings_seen: list[BaseException]
) -> None:
    run = make_run(run_id="c", enable_console_log_capture=True, runtime_namespace="rt")
    print("binary\x00junk")
    run.close()
    lines = [s.append["rt/stdout"].string for s in memory.snapshots("c") if "rt/stdout" in s.append]
    assert lines == ["binary\ufffdjunk"]
    assert warnings_seen == []
