"""Durability and concurrency: SIGKILL mid-logging, os.fork children, many threads."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from neptune_scale import Run
from neptune_scale.testing import MemoryTransport

MakeRun = Callable[..., Run]
KILL_AFTER_STEPS = 3000

CHILD_LOGGER = textwrap.dedent(
    """
    import sys
    from neptune_scale import Run
    from neptune_scale.testing import MemoryTransport

    mode = sys.argv[2]
    transport = None
    if mode == "async":  # submitted but never confirmed: everything must be resent later
        transport = MemoryTransport()
        transport.pending_checks = 10**12
    run = Run(project="ws/p", run_id="killed", log_directory=sys.argv[1],
              mode="offline" if mode == "offline" else None, transport=transport,
              enable_console_log_capture=False, source_tracking_config=None)
    run.log_configs({"lr": 0.5})
    step = 0
    while True:
        run.log_metrics({"a": float(step), "b": step * 2.0}, step=step)
        step += 1
        print(step, flush=True)  # every step below this number was acknowledged
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["offline", "async"])
def test_sigkill_loses_nothing_acknowledged(tmp_path: Path, mode: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_LOGGER, str(tmp_path), mode],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    acknowledged = 0
    for line in child.stdout:
        acknowledged = int(line)
        if acknowledged >= KILL_AFTER_STEPS:
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL

    memory = MemoryTransport()
    run = Run(
        project="ws/p",
        run_id="killed",
        log_directory=tmp_path,
        transport=memory,
        resume=True,
        enable_console_log_capture=False,
        source_tracking_config=None,
    )
    run.log_metrics({"a": 10.0**9}, step=10**9)  # new data goes after the recovered data
    run.close()
    a = memory.metric_points("killed", "a")
    steps = [s for s, _ in a]
    assert steps[:acknowledged] == [float(s) for s in range(acknowledged)]
    assert steps == sorted(set(steps))  # exactly once, in order
    assert steps[-1] == 10.0**9
    assert len(memory.metric_points("killed", "b")) >= acknowledged
    assert memory.configs("killed") == {"lr": 0.5}
    assert len(memory.creates("killed")) == 1  # the original CreateRun, recovered


FORK_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from neptune_scale import Run
    from neptune_scale.testing import MemoryTransport

    memory = MemoryTransport()
    run = Run(project="ws/p", run_id="forked", log_directory=sys.argv[1], transport=memory,
              enable_console_log_capture=True, source_tracking_config=None)
    for step in range(10):
        run.log_metrics({"m": float(step)}, step=step)
    pid = os.fork()
    if pid == 0:
        print("child output is not captured into the parent's run")
        run.log_metrics({"m": 999.0}, step=999)  # refused: the parent owns the run
        run.close()
        sys.exit(0)  # atexit runs in the child too
    _, status = os.waitpid(pid, 0)
    for step in range(10, 20):
        run.log_metrics({"m": float(step)}, step=step)
    run.close()
    print(json.dumps({"child_status": status,
                      "steps": [s for s, _ in memory.metric_points("forked", "m")],
                      "stdout": [s.append["runtime/stdout"].string
                                 for s in memory.snapshots("forked")
                                 if "runtime/stdout" in s.append]}))
    """
)


@pytest.mark.slow
def test_fork_child_neither_corrupts_nor_duplicates(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["child_status"] == 0
    assert result["steps"] == [float(s) for s in range(20)]
    assert not any("child output" in line for line in result["stdout"])
    assert "does not log from the child process" in done.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_many_threads_log_into_one_run(make_run: MakeRun, memory: MemoryTransport) -> None:
    run = make_run(run_id="threads")
    threads_n, steps_n = 8, 500
    barrier = threading.Barrier(threads_n)

    def work(index: int) -> None:
        barrier.wait()
        for step in range(steps_n):
            run.log_metrics({f"t{index}/x": step * 1.0, f"t{index}/y": -step * 1.0}, step=step)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert run.wait_for_processing(timeout=60)
    for index in range(threads_n):
        expected = [(float(s), float(s)) for s in range(steps_n)]
        assert memory.metric_points("threads", f"t{index}/x") == expected
        assert [v for _, v in memory.metric_points("threads", f"t{index}/y")] == [
            -float(s) for s in range(steps_n)
        ]
