"""``despina ui`` serves the UI of an existing store on 127.0.0.1 and refuses a missing one."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from despina.api import free_port

START_TIMEOUT_S = 30.0
DESPINA = [sys.executable, "-c", "import sys; from despina.cli import main; sys.exit(main())"]


def test_despina_ui_serves_the_store(store_dir: Path, project: str) -> None:
    port = free_port()
    command = [*DESPINA, "ui", "--store", str(store_dir)]
    process = subprocess.Popen(
        [*command, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                home = httpx.get(f"http://127.0.0.1:{port}/", follow_redirects=True)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "despina ui did not start"
                time.sleep(0.1)
        assert home.status_code == 200 and "/ui-static/runs.js" in home.text
        runs = httpx.get(f"http://127.0.0.1:{port}/ui-api/runs", params={"project": project})
        assert runs.json()["total"] > 0
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_despina_ui_refuses_a_missing_store(tmp_path: Path) -> None:
    result = subprocess.run(
        [*DESPINA, "ui", "--store", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no despina store" in result.stderr
    assert not (tmp_path / "none").exists()  # nothing was created
