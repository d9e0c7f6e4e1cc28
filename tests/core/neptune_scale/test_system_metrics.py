"""System metrics (``Run(system_metrics=...)``): figures read back from the real embedded store,
their plausibility, their step axis, per-rank names, the switches, and no thread left behind."""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from neptune_scale import Run
from neptune_scale._system_metrics import namespace_for, resolve_interval

PROJECT = "local/sys"
SAMPLER = "neptune-system-metrics"


def open_run(tmp_path: Path, run_id: str, **kwargs: Any) -> Run:
    return Run(
        project=PROJECT,
        run_id=run_id,
        mode="async",
        log_directory=tmp_path / "store",
        enable_console_log_capture=False,
        source_tracking_config=None,
        **kwargs,
    )


def stored_system(tmp_path: Path, run_id: str) -> dict[str, list[tuple[float, float]]]:
    """``{path: [(step, value), ...]}`` of the run's ``system/`` float series."""
    from despina.query import Reader

    with Reader(tmp_path / "store") as reader:
        names = [
            name
            for name, kind in reader.attribute_types(PROJECT, [run_id]).items()
            if name.startswith("system/") and kind == "float_series"
        ]
        frame = reader.fetch_metrics(PROJECT, [run_id], names)
    out: dict[str, list[tuple[float, float]]] = {}
    for name in names:
        column = frame[name].dropna()
        out[name] = [(float(step), float(v)) for (_, step), v in column.items()]
    return out


def sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == SAMPLER]


def test_figures_are_stored_plausible_at_seconds_since_the_start(tmp_path: Path) -> None:
    run = open_run(tmp_path, "sampled", system_metrics=0.2)
    for step in range(1, 6):
        run.log_metrics({"loss": 1.0 / step}, step=step)
        time.sleep(0.2)
    run.close()
    series = stored_system(tmp_path, "sampled")
    expected = {
        "cpu/percent", "process/cpu_percent", "process/rss_mib", "memory/used_mib",
        "memory/available_mib", "memory/used_percent", "disk/read_mib_s", "disk/write_mib_s",
        "network/sent_mib_s", "network/recv_mib_s",
    }  # fmt: skip
    assert {name.removeprefix("system/") for name in series} >= expected
    cpu = series["system/cpu/percent"]
    assert len(cpu) >= 3  # start, interval samples, close
    steps = [step for step, _ in cpu]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    # The first sample about half a second in, the last at close (after the ~1 s loop).
    assert 0.3 <= steps[0] <= 0.9 and steps[-1] >= 1.0
    total_mib = psutil.virtual_memory().total / 2**20
    cores = psutil.cpu_count() or 1
    for _, value in cpu:
        assert 0 <= value <= 100
    for _, value in series["system/process/cpu_percent"]:
        assert 0 <= value <= 100 * cores
    for _, value in series["system/process/rss_mib"]:
        assert 10 < value < total_mib  # a Python process with the client loaded
    for _, value in series["system/memory/used_percent"]:
        assert 0 < value < 100
    for name in ("memory/used_mib", "memory/available_mib"):
        for _, value in series[f"system/{name}"]:
            assert 0 < value < total_mib * 1.01
    for name in ("disk/read_mib_s", "disk/write_mib_s", "network/sent_mib_s"):
        assert all(value >= 0 and math.isfinite(value) for _, value in series[f"system/{name}"])


def test_a_run_shorter_than_the_interval_gets_a_first_and_a_last_sample(tmp_path: Path) -> None:
    run = open_run(tmp_path, "short", system_metrics=True)  # every 10 s
    time.sleep(0.8)
    run.close()
    cpu = stored_system(tmp_path, "short")["system/cpu/percent"]
    assert len(cpu) == 2
    assert 0.3 <= cpu[0][0] < cpu[1][0] < 5


def test_no_sampler_thread_outlives_close_or_terminate(tmp_path: Path) -> None:
    before = len(sampler_threads())
    closed = open_run(tmp_path, "closed", system_metrics=0.1)
    terminated = open_run(tmp_path, "terminated", system_metrics=0.1)
    with open_run(tmp_path, "context", system_metrics=0.1):
        assert len(sampler_threads()) == before + 3
        time.sleep(0.3)
    closed.close()
    terminated.terminate()
    assert len(sampler_threads()) == before


def test_a_forked_run_samples_after_the_fork_step(tmp_path: Path) -> None:
    with open_run(tmp_path, "parent") as parent:
        for step in range(1, 11):
            parent.log_metrics({"loss": 1.0}, step=step)
    with open_run(tmp_path, "child", fork_run_id="parent", fork_step=7, system_metrics=True):
        pass
    steps = [step for step, _ in stored_system(tmp_path, "child")["system/cpu/percent"]]
    assert steps and all(step > 7 for step in steps)


def test_the_environment_switches_it_on_for_scripts_one_cannot_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEPTUNE_SYSTEM_METRICS", "true")
    monkeypatch.setenv("NEPTUNE_SYSTEM_METRICS_INTERVAL", "0.2")
    assert resolve_interval(None) == 0.2
    assert resolve_interval(False) is None  # the keyword wins
    with open_run(tmp_path, "from-env"):
        time.sleep(0.1)
    assert stored_system(tmp_path, "from-env")["system/memory/used_percent"]
    monkeypatch.setenv("NEPTUNE_SYSTEM_METRICS", "0")
    assert resolve_interval(None) is None


def test_off_by_default_as_in_the_official_client(tmp_path: Path) -> None:
    before = len(sampler_threads())
    with open_run(tmp_path, "plain") as run:
        assert len(sampler_threads()) == before
        run.log_metrics({"loss": 1.0}, step=1)
    assert stored_system(tmp_path, "plain") == {}


def test_bad_settings_name_the_setting_and_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"system_metrics interval must be at least 0\.1"):
        resolve_interval(0.01)
    with pytest.raises(TypeError, match="system_metrics must be a bool or a number"):
        resolve_interval("often")  # type: ignore[arg-type]
    monkeypatch.setenv("NEPTUNE_SYSTEM_METRICS", "maybe")
    with pytest.raises(ValueError, match="NEPTUNE_SYSTEM_METRICS must be one of"):
        resolve_interval(None)
    monkeypatch.setenv("NEPTUNE_SYSTEM_METRICS", "1")
    monkeypatch.setenv("NEPTUNE_SYSTEM_METRICS_INTERVAL", "soon")
    with pytest.raises(ValueError, match="NEPTUNE_SYSTEM_METRICS_INTERVAL must be a number"):
        resolve_interval(None)


def test_each_rank_of_a_launcher_writes_its_own_series() -> None:
    assert namespace_for({}) == "system"
    assert namespace_for({"RANK": "0", "WORLD_SIZE": "1"}) == "system"
    assert namespace_for({"RANK": "3", "WORLD_SIZE": "4"}) == "system/rank_3"
    assert namespace_for({"SLURM_PROCID": "1", "SLURM_NTASKS": "2"}) == "system/rank_1"
    assert namespace_for({"LOCAL_RANK": "1", "WORLD_SIZE": "2"}).endswith("/local_rank_1")


def test_two_ranks_in_one_run_never_share_a_series(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        # Rank 0 creates the run, rank 1 joins it.
        with open_run(tmp_path, "ddp", system_metrics=True, resume=rank == "1") as run:
            run.log_metrics({f"rank{rank}/loss": 1.0}, step=1)
    names = set(stored_system(tmp_path, "ddp"))
    assert {"system/rank_0/cpu/percent", "system/rank_1/cpu/percent"} <= names


def test_a_resumed_run_without_a_rank_of_its_own_does_not_sample(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with open_run(tmp_path, "again", system_metrics=True):
        pass
    first = stored_system(tmp_path, "again")["system/cpu/percent"]
    resumed = open_run(tmp_path, "again", system_metrics=True, resume=True)
    with caplog.at_level(logging.INFO, logger="neptune"), resumed:
        assert not sampler_threads()
    assert stored_system(tmp_path, "again")["system/cpu/percent"] == first
    assert "not sampled in a resumed run" in caplog.text


def test_without_a_gpu_library_there_are_no_gpu_series_and_one_debug_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEPTUNE_LOGGER_LEVEL", "debug")  # Run() sets the client logger's level
    try:
        import pynvml  # noqa: F401

        pytest.skip("nvidia-ml-py is installed here")
    except ImportError:
        pass
    with caplog.at_level(logging.DEBUG, logger="neptune"):
        open_run(tmp_path, "no-gpu", system_metrics=True).close()
    lines = [r for r in caplog.records if "no GPU figures" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.DEBUG
    assert not [n for n in stored_system(tmp_path, "no-gpu") if "/gpu/" in n]
