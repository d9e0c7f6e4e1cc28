"""SIGTERM under load (issue 20): the server stops accepting, finishes what is in flight and
exits 0; a client mid-batch (the official one and ours) retries against the server started
again on the same port, and every point arrives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from despina.api import ServerProcess
from despina.auth import KeyRing, ServerDatabase, encode_api_token
from support.stored_runs import StoredRuns

pytestmark = [pytest.mark.oracle, pytest.mark.slow]

STEPS = 30_000
CLIENT_TIMEOUT_S = 240

_CLIENT = f"""
import json
from neptune_scale import Run

run = Run(run_id="busy", enable_console_log_capture=False, source_tracking_config=None)
for step in range({STEPS}):
    run.log_metrics({{"loss": step * 0.5, "acc": 1.0 / (step + 1)}}, step=step)
done = run.wait_for_processing(timeout=180)
run.close()
print(json.dumps({{"done": done}}))
"""


def _start_client(python: Path, folder: Path, token: str, project: str) -> subprocess.Popen[str]:
    script = folder / "client.py"
    body = textwrap.indent(textwrap.dedent(_CLIENT), "    ")
    script.write_text(f'if __name__ == "__main__":\n{body}')  # spawn re-imports the main module
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEPTUNE_")}
    env |= {"NEPTUNE_API_TOKEN": token, "NEPTUNE_PROJECT": project}
    return subprocess.Popen(
        [str(python), str(script)],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_ingest(log: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while "POST /api/client/v1/ingest" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)


@pytest.mark.parametrize("client", ["official", "ours"])
def test_sigterm_mid_batch_loses_nothing(
    client: str, official_python: Path, tmp_path: Path
) -> None:
    location = str(tmp_path / "store")
    api_key, _ = KeyRing(ServerDatabase(location)).create_key("team")
    first = ServerProcess(location, tmp_path / "first.log", args=["--shutdown-timeout", "10"])
    first.start()
    token = encode_api_token(first.url, api_key)
    python = official_python if client == "official" else Path(sys.executable)
    folder = tmp_path / client
    folder.mkdir()
    process = _start_client(python, folder, token, f"team/{client}")
    second = ServerProcess(location, tmp_path / "second.log", port=first.port)
    try:
        _wait_for_ingest(first.log_path)  # the client is sending batches now
        assert first.stop() == 0
        second.start()  # a new process on the same port, as an orchestrator would
        out, err = process.communicate(timeout=CLIENT_TIMEOUT_S)
    finally:
        process.kill()
        second.stop()
    assert process.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {"done": True}

    stored = StoredRuns(location)
    try:
        loss = stored.floats(f"team/{client}", "busy", "loss")
        acc = stored.floats(f"team/{client}", "busy", "acc")
    finally:
        stored.close()
    assert loss == [(float(s), s * 0.5) for s in range(STEPS)]
    assert len(acc) == STEPS
    assert "POST /api/client/v1/ingest" in (tmp_path / "second.log").read_text()  # it resumed
