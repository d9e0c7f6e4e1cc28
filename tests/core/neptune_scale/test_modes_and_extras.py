"""Mode resolution into the real embedded store, environment variables, `neptune sync`,
console capture, source tracking and the logging handler."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from neptune_scale import NeptuneLoggingHandler, Run
from neptune_scale._modes import resolve
from neptune_scale.testing import MemoryTransport

MakeRun = Callable[..., Run]


def read_run(store: Path, project: str, run_id: str) -> dict[str, Any]:
    from despina.query import Reader

    with Reader(store) as reader:
        details: dict[str, Any] = reader.run_details(project, run_id)
        details["metrics"] = reader.fetch_metrics(project, [run_id], ["loss"])
        return details


def test_default_goes_into_the_embedded_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with Run(
        run_id="local-run",
        experiment_name="exp",
        enable_console_log_capture=False,
        source_tracking_config=None,
    ) as run:
        run.log_configs({"lr": 0.1})
        run.add_tags(["t"])
        for step in range(10):
            run.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
    line = capsys.readouterr().err
    assert "embedded store" in line and "despina ui --store" in line and "local/default" in line
    details = read_run(tmp_path / ".neptune", "local/default", "local-run")
    assert details["configs"]["lr"] == 0.1
    assert details["tags"] == ["t"]
    assert details["experiment"] == "exp"
    assert len(details["metrics"]) == 10


def test_environment_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEPTUNE_PROJECT", "team/proj")
    monkeypatch.setenv("NEPTUNE_LOG_DIRECTORY", str(tmp_path / "logs"))
    monkeypatch.setenv("NEPTUNE_MODE", "offline")
    dest = resolve(mode=None, api_token=None, project=None, log_directory=None)
    assert (dest.mode, dest.kind, dest.project) == ("offline", "none", "team/proj")
    assert dest.log_directory == tmp_path / "logs"
    token = base64.b64encode(json.dumps({"api_url": "http://h:1/", "api_key": "k"}).encode())
    monkeypatch.setenv("NEPTUNE_API_TOKEN", token.decode())
    monkeypatch.delenv("NEPTUNE_MODE")
    dest = resolve(mode=None, api_token=None, project=None, log_directory=None)
    assert (dest.mode, dest.kind) == ("async", "http")
    assert resolve(mode="disabled", api_token=None, project=None, log_directory=None).kind == "none"


def test_run_url_comes_from_the_token(tmp_path: Path) -> None:
    token = base64.b64encode(
        json.dumps({"api_url": "https://h.example/x/", "api_key": "k"}).encode()
    ).decode()
    run = Run(
        project="ws/p",
        run_id="r",
        api_token=token,
        mode="offline",
        log_directory=tmp_path,
        enable_console_log_capture=False,
        source_tracking_config=None,
    )
    assert run.get_run_url() == "https://h.example/x/ws/p/-/run/?customId=r"
    run.close()


@pytest.mark.slow
def test_neptune_sync_cli_into_the_embedded_store(tmp_path: Path) -> None:
    run = Run(
        project="ws/p",
        run_id="off",
        log_directory=tmp_path,
        mode="offline",
        enable_console_log_capture=False,
        source_tracking_config=None,
    )
    for step in range(50):
        run.log_metrics({"loss": float(step)}, step=step)
    run.close()
    (folder,) = (tmp_path / "runs").iterdir()
    done = subprocess.run(
        [sys.executable, "-m", "neptune_scale.cli", "sync", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "50/50" in done.stderr or "51/51" in done.stderr  # the tqdm bar: count and rate
    assert not folder.exists()
    assert len(read_run(tmp_path, "ws/p", "off")["metrics"]) == 50


def test_console_capture(make_run: MakeRun, memory: MemoryTransport) -> None:
    run = make_run(run_id="c", enable_console_log_capture=True, runtime_namespace="rt")
    print("hello from stdout")
    print("to stderr", file=sys.stderr)
    sys.stdout.write("partial line")
    run.close()
    snaps = memory.snapshots("c")
    out = [
        (s.step.whole + s.step.micro / 1e6, s.append["rt/stdout"].string)
        for s in snaps
        if "rt/stdout" in s.append
    ]
    assert [text for _, text in out] == ["hello from stdout", "partial line"]
    assert [step for step, _ in out] == [1e-6, 2e-6]
    assert [s.append["rt/stderr"].string for s in snaps if "rt/stderr" in s.append] == ["to stderr"]
    assert not isinstance(sys.stdout, type(None)) and type(sys.stdout).__name__ != "_Tee"


def test_source_tracking_in_a_git_repository(
    make_run: MakeRun, memory: MemoryTransport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=Ann", "-c", "user.email=ann@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (repo / "train.py").write_text("print(1)\n")
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first commit"], check=True)
    (repo / "train.py").write_text("print(2)\n")
    monkeypatch.chdir(repo)
    from neptune_scale import SourceTrackingConfig

    run = make_run(run_id="src", source_tracking_config=SourceTrackingConfig(upload_diff_head=True))
    run.close()
    configs = memory.configs("src")
    assert configs["source_code/commit/message"] == "first commit"
    assert configs["source_code/commit/author_name"] == "Ann"
    assert configs["source_code/branch"] == "main"
    assert configs["source_code/dirty"] is True
    assert len(configs["source_code/commit/commit_id"]) == 40
    assert "source_code/run_command" in configs
    diff = next(iter(v for (_, dest), v in memory.files.items()))
    assert b"print(2)" in diff


def test_logging_handler(make_run: MakeRun, memory: MemoryTransport) -> None:
    run = make_run(run_id="logs")
    logger = logging.getLogger("user.training")
    handler = NeptuneLoggingHandler(run)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("epoch %d done", 1)
        logger.warning("slow")
        logging.getLogger("neptune").warning("not forwarded")
    finally:
        logger.removeHandler(handler)
    run.close()
    lines = [
        s.append["runtime/logs"].string
        for s in memory.snapshots("logs")
        if "runtime/logs" in s.append
    ]
    assert lines == ["INFO epoch 1 done", "WARNING slow"]
