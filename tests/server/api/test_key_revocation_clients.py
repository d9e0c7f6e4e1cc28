"""Clients that hold a valid access token when their key is revoked: a real `despina server` on
127.0.0.1 with a short ``key_recheck_s``, the official neptune-scale in its own venv and ours.

Each client logs, the test revokes its key mid-run, and the client must report the refusal
through its error callback and finish (no endless retries), while a run on another key of the
same workspace still lands. neptune-query, reading with a revoked key, fails at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from despina.api import ServerProcess
from despina.auth import KeyRing, ServerDatabase, encode_api_token
from despina.store import open_store
from google.protobuf.timestamp_pb2 import Timestamp
from neptune_api.proto.neptune_pb.ingest.v1.common_pb2 import Run
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation
from support.stored_runs import StoredRuns

REPO = Path(__file__).resolve().parents[3]
RECHECK_S = 1.0  # the server's key_recheck_s for these tests (the default is 30 s)
HANDSHAKE_TIMEOUT_S = 120.0
SCRIPT_TIMEOUT_S = 240.0
WORKSPACE = "revoke-ws"
ORACLE_SCALE = "neptune-scale==0.30.0"
ORACLE_QUERY = "neptune-query==1.14.1"

# Runs in the client's interpreter; both clients take the same arguments and callbacks.
SCRIPT = """
import json, time
from pathlib import Path
from neptune_scale import Run

seen = {"leaked": [], "kept": []}
def record(run, kind):
    return lambda exc, ts: seen[run].append([kind, type(exc).__name__, str(exc)[:300]])
def callbacks(run):
    return dict(
        enable_console_log_capture=False,
        source_tracking_config=None,
        on_error_callback=record(run, "error"),
        on_warning_callback=record(run, "warning"),
        on_network_error_callback=record(run, "network"),
    )

leaked = Run(run_id="leaked-run", api_token=LEAKED_TOKEN, **callbacks("leaked"))
leaked.log_metrics({"loss": 1.0}, step=1)
before = leaked.wait_for_processing(timeout=60)
Path("ready").write_text("logged")
deadline = time.monotonic() + HANDSHAKE_TIMEOUT_S
while not Path("revoked").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
leaked.log_metrics({"loss": 2.0}, step=2)
started = time.monotonic()
after = leaked.wait_for_processing(timeout=30)
leaked.close()
leaked_s = time.monotonic() - started

kept = Run(run_id="kept-run", api_token=KEPT_TOKEN, **callbacks("kept"))
kept.log_metrics({"loss": 3.0}, step=3)
kept_ok = kept.wait_for_processing(timeout=60)
kept.close()
print(json.dumps({"before": before, "after": after, "leaked_s": leaked_s, "kept_ok": kept_ok,
                  "seen": seen}))
"""

QUERY_SCRIPT = """
import json, os, time
from pathlib import Path
os.environ["NEPTUNE_API_TOKEN"] = LEAKED_TOKEN
import neptune_query.runs as nq_runs

before = sorted(nq_runs.list_runs(runs=None))
Path("ready").write_text("listed")
deadline = time.monotonic() + HANDSHAKE_TIMEOUT_S
while not Path("revoked").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
started = time.monotonic()
try:
    after = ["listed", sorted(nq_runs.list_runs(runs=None))]
except Exception as exc:
    after = [type(exc).__name__, str(exc)[:1000]]
print(json.dumps({"before": before, "after": after, "after_s": time.monotonic() - started}))
"""


@dataclass
class Server:
    url: str
    location: str
    keys: KeyRing


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("revocation-server")
    location = str(tmp / "store")
    db = ServerDatabase(location)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DESPINA_KEY_RECHECK_S", str(RECHECK_S))  # read by the server process
        process = ServerProcess(location, tmp / "server.log").start()
    try:
        yield Server(process.url, location, KeyRing(db))
    finally:
        process.stop()
        db.close()


def oracle_python(requirement: str) -> Path:
    """The python of the official package's own venv (built once, cached by version)."""
    from support.oracle_support import oracle_venv

    return oracle_venv(requirement)


def revoke_mid_run(
    python: Path, server: Server, project: str, work: Path, script: str, constants: dict[str, Any]
) -> dict[str, Any]:
    """Run ``script``; once it wrote the file ``ready``, revoke the key behind ``LEAKED_TOKEN``
    (created here), wait out the server's period and write ``revoked``. Its last line is JSON."""
    leaked_key, leaked = server.keys.create_key(WORKSPACE)
    constants = {
        **constants,
        "LEAKED_TOKEN": encode_api_token(server.url, leaked_key),
        "HANDSHAKE_TIMEOUT_S": HANDSHAKE_TIMEOUT_S,
    }
    code = "".join(f"{k} = {v!r}\n" for k, v in constants.items()) + script
    # The official client spawns its sync process, which re-imports the main module.
    body = textwrap.indent(textwrap.dedent(code), "    ")
    (work / "script.py").write_text(f'if __name__ == "__main__":\n{body}')
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEPTUNE_")}
    env |= {"NEPTUNE_PROJECT": project, "NEPTUNE_LOG_DIRECTORY": str(work / "logs")}
    child = subprocess.Popen(
        [str(python), "script.py"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT_S
        while not (work / "ready").exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the client did not get through its first part"
            time.sleep(0.05)
        assert server.keys.revoke(leaked.key_id)
        time.sleep(RECHECK_S * 1.5)  # past the server's period: the key's tokens are refused
        (work / "revoked").write_text("yes")
        stdout, stderr = child.communicate(timeout=SCRIPT_TIMEOUT_S)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, f"stdout:\n{stdout}\nstderr:\n{stderr}"
    return dict(json.loads(stdout.strip().splitlines()[-1]))


def log_mid_run(python: Path, server: Server, project: str, work: Path) -> dict[str, Any]:
    kept_key, _ = server.keys.create_key(WORKSPACE)
    kept = {"KEPT_TOKEN": encode_api_token(server.url, kept_key)}
    return revoke_mid_run(python, server, project, work, SCRIPT, kept)


def check_outcome(result: dict[str, Any], server: Server, project: str) -> None:
    assert result["before"] is True
    assert result["after"] is False  # the point logged after the revocation was not accepted
    errors = [name for kind, name, _ in result["seen"]["leaked"] if kind == "error"]
    assert "NeptuneUnauthorizedError" in errors, result["seen"]
    assert result["kept_ok"] is True and result["seen"]["kept"] == []
    stored = StoredRuns(server.location)
    try:
        assert stored.floats(project, "leaked-run", "loss") == [(1.0, 1.0)]
        assert stored.floats(project, "kept-run", "loss") == [(3.0, 3.0)]
    finally:
        stored.close()


@pytest.mark.oracle
@pytest.mark.slow
def test_the_official_client_stops_cleanly_when_its_key_is_revoked(
    server: Server, tmp_path: Path
) -> None:
    project = f"{WORKSPACE}/official"
    result = log_mid_run(oracle_python(ORACLE_SCALE), server, project, tmp_path)
    check_outcome(result, server, project)


@pytest.mark.slow
def test_our_client_stops_cleanly_when_its_key_is_revoked(server: Server, tmp_path: Path) -> None:
    project = f"{WORKSPACE}/ours"
    result = log_mid_run(Path(sys.executable), server, project, tmp_path)
    check_outcome(result, server, project)


@pytest.mark.oracle
@pytest.mark.slow
def test_neptune_query_fails_at_once_when_its_key_is_revoked(
    server: Server, tmp_path: Path
) -> None:
    project = f"{WORKSPACE}/query"
    store = open_store(server.location)
    try:
        run = Run(family="listed", creation_time=Timestamp(seconds=1_790_000_000))
        assert store.apply([RunOperation(project=project, run_id="listed", create=run)]) == [()]
    finally:
        store.close()
    result = revoke_mid_run(
        oracle_python(ORACLE_QUERY), server, project, tmp_path, QUERY_SCRIPT, {}
    )
    assert result["before"] == ["listed"]
    name, message = result["after"]
    assert name == "NeptuneUnexpectedResponseError", result  # final: neptune-query does not retry
    assert "403" in message and "revoked" in message
