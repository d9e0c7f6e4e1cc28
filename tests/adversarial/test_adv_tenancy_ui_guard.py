"""Issue 12.3 and 12.4: ``despina ui`` (no login) answers only requests addressed to a name it
listens as (DNS rebinding gets 400 and no data), and pages carry a Content-Security-Policy of
the UI's own scripts and styles, no framing and no sniffing; the server's answers too."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from despina.api import ServerSettings, create_app, free_port
from fastapi.testclient import TestClient
from support.adv_tenancy_world import OURS, SECRET, SHARED, THEIRS, write_tenants

DESPINA = [sys.executable, "-c", "import sys; from despina.cli import main; sys.exit(main())"]
START_TIMEOUT_S = 30.0
EVIL = "attacker.example"
PAGES = ["/runs", "/run", "/compare"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from despina.store import open_store

    path = tmp_path_factory.mktemp("guard-store")
    with open_store(str(path)) as store:
        write_tenants(store)
    return path


def _ui(folder: Path, **options: Any) -> TestClient:
    from despina.ui import create_app as create_ui

    return TestClient(create_ui(str(folder), **options), follow_redirects=False)


def _get(client: TestClient, host: str, path: str = "/ui-api/run") -> httpx.Response:
    params = {"project": THEIRS, "run": SHARED}
    return client.get(path, params=params, headers={"Host": host})


@pytest.mark.parametrize(
    "host", [EVIL, f"{EVIL}:8765", "127.0.0.1.attacker.example", "localhost.", "[::2]", "", "x:y"]
)
def test_a_foreign_host_name_gets_400_and_no_data(folder: Path, host: str) -> None:
    with _ui(folder) as client:
        for path in ["/", "/ui-api/projects", "/ui-api/run", "/ui-static/common.js"]:
            answer = _get(client, host, path)
            if host == "localhost.":  # the same name written fully qualified
                assert answer.status_code in (200, 307), (path, answer.text)
                continue
            assert answer.status_code == 400, (host, path)
            assert SECRET not in answer.text and THEIRS not in answer.text
            assert "--allow-host" in answer.text
            assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:8765", "localhost:8765", "LOCALHOST", "[::1]:8765", "[::1]"]
)
def test_the_loopback_names_are_answered(folder: Path, host: str) -> None:
    with _ui(folder) as client:
        answer = _get(client, host)
        assert answer.status_code == 200, answer.text
        assert answer.json()["configs"][0]["value"] == SECRET


def test_host_and_allowed_names_are_answered(folder: Path) -> None:
    with _ui(folder, host="192.168.7.7", allowed_hosts=["ui.lab.internal"]) as client:
        for host in ["192.168.7.7:80", "ui.lab.internal", "UI.lab.internal:8765", "localhost"]:
            assert _get(client, host).status_code == 200, host
        for host in [EVIL, "10.0.0.1", "lab.internal"]:
            assert _get(client, host).status_code == 400, host


def test_every_address_accepts_ip_literals_and_this_machines_names(folder: Path) -> None:
    """On 0.0.0.0 the UI is reached by this machine's addresses and names; an IP literal can
    never be a rebound name, an attacker's domain still is refused."""
    with _ui(folder, host="0.0.0.0") as client:
        for host in ["10.1.2.3:8765", "[fe80::1]:8765", socket.gethostname(), socket.getfqdn()]:
            assert _get(client, host).status_code == 200, host
        for host in [EVIL, f"{EVIL}:8765", "10.1.2.3.nip.io"]:
            assert _get(client, host).status_code == 400, host


@pytest.fixture(scope="module")
def served(folder: Path) -> Iterator[str]:
    """``despina ui`` itself on a free loopback port, with one extra allowed name."""
    port = free_port()
    command = [*DESPINA, "ui", "--store", str(folder), "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--allow-host", "despina.local"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                httpx.get(f"{base}/favicon.ico")
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "despina ui did not start"
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_despina_ui_refuses_a_rebound_name(served: str) -> None:
    url = f"{served}/ui-api/run"
    params = {"project": THEIRS, "run": SHARED}
    rebound = httpx.get(url, params=params, headers={"Host": EVIL})
    assert rebound.status_code == 400 and SECRET not in rebound.text
    assert httpx.get(url, params=params).status_code == 200
    allowed = httpx.get(url, params=params, headers={"Host": "despina.local:80"})
    assert allowed.status_code == 200 and SECRET in allowed.text


def _assert_page_policy(answer: httpx.Response) -> None:
    policy = answer.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "unsafe" not in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_pages_allow_only_the_uis_own_scripts_and_styles(folder: Path) -> None:
    with _ui(folder, host="127.0.0.1") as client:
        client.headers["Host"] = "127.0.0.1"
        for path in PAGES:
            page = client.get(path, params={"project": OURS, "run": SHARED})
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            _assert_page_policy(page)
            # nothing inline for the policy to block: no script body, handler or style attribute
            html = page.text.lower()
            assert "<script>" not in html and " on" + "change=" not in html
            assert " style=" not in html and "<style" not in html
        missing = client.get("/runs", params={"project": THEIRS + "x"})
        assert missing.status_code == 404
        _assert_page_policy(missing)


def test_json_static_and_files_are_never_sniffed_nor_framed(folder: Path) -> None:
    with _ui(folder) as client:
        client.headers["Host"] = "127.0.0.1"
        answers = [
            client.get("/ui-api/projects"),
            client.get("/ui-static/common.js"),
            client.get("/ui-api/file", params={"project": OURS, "path": "files/secret.txt"}),
            client.get("/ui-api/run", params={"project": "no/such", "run": "x"}),  # an error
        ]
        for answer in answers:
            assert answer.headers["x-content-type-options"] == "nosniff", answer.url
            assert answer.headers["x-frame-options"] == "DENY", answer.url
            policy = answer.headers["content-security-policy"]
            assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy


def test_the_servers_answers_carry_the_headers_too(tmp_path: Path) -> None:
    app = create_app(ServerSettings(db=str(tmp_path / "store"), ui=True))
    with TestClient(app, follow_redirects=False) as client:
        _assert_page_policy(client.get("/login"))
        config = client.get("/api/backend/v1/clients/config")
        assert config.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in config.headers["content-security-policy"]
