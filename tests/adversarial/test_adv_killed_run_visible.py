"""Issue 12 item 10: what a killed process acknowledged is visible without a sync.

A real training script logs into the embedded store while the test holds the store's write lock
(so its sender cannot deliver: the points stay in the run's operation log), and is killed with
SIGKILL. Opening the store from the CLI (``despina ls``, a real subprocess) or with ``Reader``
must deliver that log first: every acknowledged step is there, exactly once. A log whose writer
is alive is never touched, and two commands opened at once deliver it once.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from despina.api import free_port
from despina.query import Reader
from despina.store import open_store

pytestmark = pytest.mark.slow

PROJECT = "adv/killed"
ACKNOWLEDGED = 2000

TRAINING = textwrap.dedent(
    """
    import sys
    from neptune_scale import Run

    run = Run(project="adv/killed", run_id="victim", log_directory=sys.argv[1],
              enable_console_log_capture=False, source_tracking_config=None)
    step = 0
    while True:
        run.log_metrics({"loss": step * 0.25}, step=step)
        step += 1
        print(step, flush=True)  # every step below this number was acknowledged
    """
)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("NEPTUNE_", "DESPINA_"))}


def _despina(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["despina", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_clean_env(),
    )  # fmt: skip


def _train_until(store: Path, steps: int) -> tuple[subprocess.Popen[str], int]:
    """A training process that acknowledged at least ``steps`` steps, still running."""
    child = subprocess.Popen(
        [sys.executable, "-c", TRAINING, str(store)], stdout=subprocess.PIPE, text=True,
        env=_clean_env(),
    )  # fmt: skip
    assert child.stdout is not None
    acknowledged = 0
    for line in child.stdout:
        acknowledged = int(line)
        if acknowledged >= steps:
            break
    assert acknowledged >= steps, "the training script stopped early"
    return child, acknowledged


def _nothing() -> None:
    pass


def _steps(store: Path) -> list[float]:
    """What the store holds, read without delivering anything (a Reader over a Store)."""
    with open_store(store, create=False) as opened, Reader(opened) as reader:
        if PROJECT not in reader.list_projects():
            return []
        frame = reader.fetch_metrics(PROJECT, runs=["victim"], attributes=["loss"])
    return [float(s) for s in frame.index.get_level_values("step")]


def _killed_with_undelivered_data(store: Path, while_alive: Callable[[], None] = _nothing) -> int:
    open_store(store).close()
    blocker = sqlite3.connect(store / "despina.sqlite3", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the store's writer lock: the sender's writes wait
    try:
        child, acknowledged = _train_until(store, ACKNOWLEDGED)
        while_alive()
        # Alive: opening the store must not touch its log.
        with Reader(store):
            assert [p.name for p in (store / "runs").glob("*/meta.json")] == ["meta.json"]
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert len(_steps(store)) < acknowledged  # the log holds what the store does not
    return acknowledged


def test_despina_ls_shows_what_a_killed_process_acknowledged(tmp_path: Path) -> None:
    store = tmp_path / "store"
    acknowledged = _killed_with_undelivered_data(store)
    both = [_despina("ls", "--store", str(store), "--json") for _ in range(2)]  # at once
    outputs = [p.communicate(timeout=120) for p in both]
    assert [p.returncode for p in both] == [0, 0], [err for _, err in outputs]
    # One of them delivered it; the other found it locked (being delivered) and left it.
    assert sum("delivered the data of 1 run" in err for _, err in outputs) == 1
    result = subprocess.run(
        ["despina", "ls", "--store", str(store), "--json"], capture_output=True, text=True,
        timeout=120, env=_clean_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [r for r in json.loads(result.stdout) if r["project"] == PROJECT]
    assert [r["run"] for r in rows] == ["victim"]
    assert rows[0]["loss"] >= (acknowledged - 1) * 0.25  # the last value: at least that far
    steps = _steps(store)
    assert steps[:acknowledged] == [float(s) for s in range(acknowledged)]
    assert steps == sorted(set(steps))  # exactly once
    assert not list((store / "runs").iterdir())  # delivered: the log folder is gone


def test_reader_delivers_what_a_killed_process_acknowledged(tmp_path: Path) -> None:
    store = tmp_path / "store"
    acknowledged = _killed_with_undelivered_data(store)
    with Reader(store) as reader:
        frame = reader.fetch_metrics(PROJECT, runs=["victim"], attributes=["loss"])
        steps = [float(s) for s in frame.index.get_level_values("step")]
        assert steps[:acknowledged] == [float(s) for s in range(acknowledged)]
        assert list(frame["loss"])[:acknowledged] == [s * 0.25 for s in range(acknowledged)]
        assert reader.pending is not None and reader.pending.delivered == ["victim"]


def test_despina_ui_shows_a_run_killed_while_it_is_open(tmp_path: Path) -> None:
    store = tmp_path / "store"
    port = free_port()
    ui: list[subprocess.Popen[str]] = []

    def open_ui() -> None:  # while the training process is alive
        ui.append(_despina("ui", "--store", str(store), "--port", str(port)))

    try:
        acknowledged = _killed_with_undelivered_data(store, open_ui)
        deadline = time.monotonic() + 60
        total = 0
        while total == 0:
            assert ui[0].poll() is None, ui[0].communicate()
            assert time.monotonic() < deadline, "the UI never showed the killed run"
            time.sleep(0.5)
            try:
                runs = httpx.get(
                    f"http://127.0.0.1:{port}/ui-api/runs", params={"project": PROJECT}
                )
            except httpx.TransportError:
                continue  # not listening yet
            total = runs.json()["total"] if runs.status_code == 200 else 0
        while not (store / "runs").exists() or list((store / "runs").iterdir()):
            assert time.monotonic() < deadline, "the UI never finished delivering the run"
            time.sleep(0.2)
    finally:
        for process in ui:
            process.terminate()
            process.communicate(timeout=30)
    steps = _steps(store)
    assert steps[:acknowledged] == [float(s) for s in range(acknowledged)]
    assert steps == sorted(set(steps))


def test_an_offline_run_left_on_disk_is_named_not_delivered(tmp_path: Path) -> None:
    from neptune_scale import Run

    store = tmp_path / "store"
    open_store(store).close()
    run = Run(project=PROJECT, run_id="offline", log_directory=store, mode="offline",
              enable_console_log_capture=False, source_tracking_config=None)  # fmt: skip
    run.log_metrics({"loss": 1.0}, step=1)
    run.close()
    result = subprocess.run(
        ["despina", "ls", "--store", str(store)], capture_output=True, text=True, timeout=120,
        env=_clean_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"1 run has undelivered data in {store / 'runs'}: despina sync {store}" in result.stderr
    assert list((store / "runs").glob("*/meta.json"))  # kept for `despina sync`
