"""Adversarial system metrics: many short runs in a row, the shortest interval, a fork just
below the step limit, threads logging beside the sampler; nothing refused, no thread left."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from despina.query import Reader
from neptune_scale import Run

PROJECT = "adv/system"
SAMPLER = "neptune-system-metrics"


def open_run(tmp_path: Path, run_id: str, problems: list[Any], **kwargs: Any) -> Run:
    def report(error: BaseException, _when: float | None = None) -> None:
        problems.append(error)

    return Run(
        project=PROJECT, run_id=run_id, mode="async", log_directory=tmp_path,
        enable_console_log_capture=False, source_tracking_config=None,
        on_error_callback=report, on_warning_callback=report, **kwargs,
    )  # fmt: skip


def test_many_short_runs_leave_no_thread_and_each_has_its_samples(tmp_path: Path) -> None:
    problems: list[Any] = []
    for i in range(20):
        open_run(tmp_path, f"short-{i}", problems, system_metrics=0.1).close()
    assert not [t for t in threading.enumerate() if t.name == SAMPLER]
    with Reader(tmp_path) as reader:
        for i in range(20):
            names = reader.list_attributes(PROJECT, [f"short-{i}"], "^system/")
            assert "system/cpu/percent" in names
    assert problems == []


def test_the_shortest_interval_beside_busy_logging_threads_is_never_refused(
    tmp_path: Path,
) -> None:
    problems: list[Any] = []
    run = open_run(tmp_path, "busy", problems, system_metrics=0.1)

    def log(name: str) -> None:
        for step in range(2000):
            run.log_metrics({f"{name}/x": float(step)}, step=step)

    workers = [threading.Thread(target=log, args=(f"w{i}",)) for i in range(3)]
    for worker in workers:
        worker.start()
    time.sleep(1.5)
    for worker in workers:
        worker.join()
    run.close()
    with Reader(tmp_path) as reader:
        frame = reader.fetch_metrics(PROJECT, ["busy"], ["system/cpu/percent", "w0/x"])
    steps = [float(step) for (_, step) in frame["system/cpu/percent"].dropna().index]
    assert len(steps) >= 5 and steps == sorted(set(steps))
    assert len(frame["w0/x"].dropna()) == 2000  # the callers' points all stored beside
    assert problems == []


def test_a_fork_near_the_step_limit_samples_between_it_and_the_limit(tmp_path: Path) -> None:
    problems: list[Any] = []
    with open_run(tmp_path, "parent", problems) as parent:
        parent.log_metrics({"loss": 1.0}, step=1e12 - 2)
    child = open_run(
        tmp_path, "child", problems, fork_run_id="parent", fork_step=1e12 - 2, system_metrics=0.1
    )
    child.log_metrics({"loss": 0.5}, step=1e12 - 1.5)
    time.sleep(1.0)  # samples at the fork step + seconds: still below the 1e12 limit
    child.close()
    assert not [t for t in threading.enumerate() if t.name == SAMPLER]
    with Reader(tmp_path) as reader:
        frame = reader.fetch_metrics(PROJECT, ["child"], ["loss"], lineage_to_the_root=False)
    assert [float(step) for (_, step) in frame["loss"].dropna().index] == [1e12 - 1.5]
    assert problems == []
