"""``despina token``, ``despina project`` and ``despina server`` from the command line."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from despina.api import free_port
from despina.cli import main


def test_token_create_ls_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    args = ["token", "--db", store, "create", "--workspace", "team", "--project", "p"]
    assert main([*args, "--url", "http://h:1", "--label", "ci"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert "reaches team/p" in err
    payload = json.loads(base64.b64decode(token))
    assert payload["api_url"] == payload["api_address"] == "http://h:1"
    assert payload["api_key"].startswith("dsp1_")
    assert main(["token", "--db", store, "ls"]) == 0
    listing = capsys.readouterr().out
    assert "team/p" in listing and "ci" in listing and payload["api_key"] not in listing
    key_id = listing.splitlines()[1].split()[0]  # under the header row
    assert main(["token", "--db", store, "revoke", key_id]) == 0
    assert main(["token", "--db", store, "revoke", key_id]) == 1
    assert main(["token", "--db", store, "create", "--workspace", "a/b"]) == 2


def test_project_create_and_ls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    assert main(["project", "--db", store, "create", "team/vision"]) == 0
    assert main(["project", "--db", store, "create", "team/vision"]) == 1
    assert main(["project", "--db", store, "create", "no-slash"]) == 2
    capsys.readouterr()
    assert main(["project", "--db", store, "ls"]) == 0
    assert "team/vision" in capsys.readouterr().out


@pytest.mark.slow
def test_server_command_serves_the_protocol(tmp_path: Path) -> None:
    port = free_port()
    store = str(tmp_path / "store")
    server = subprocess.Popen(
        [
            *(sys.executable, "-c", "from despina.cli import main; raise SystemExit(main())"),
            *("server", "--db", store, "--port", str(port)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/backend/v1/clients/config"
        for _ in range(300):
            try:
                answer = httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                time.sleep(0.1)
        assert answer.json()["apiUrl"] == f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.parametrize("command", ["server", "ui"])
def test_both_web_commands_share_one_log_level_option(command: str) -> None:
    import argparse

    from despina.cli import _parser
    from despina.cli._serve import LOG_LEVELS

    commands = next(
        a for a in _parser([command])._actions if isinstance(a, argparse._SubParsersAction)
    )
    option = next(a for a in commands.choices[command]._actions if a.dest == "log_level")
    assert option.choices is LOG_LEVELS  # one definition, not two lists that drift apart
    assert option.help is not None and f"(default {option.default})" in option.help
