"""The UI of a real ``despina server`` (SQLite, 127.0.0.1) behind its login, in Debian's chromium:
login page for anonymous visitors, bad and revoked tokens refused, a good token sees only its
project on every page and JSON route, log-out, a revoked token's session ends, and a form on
another site cannot log anyone in. Screenshots go to the test's tmp dir."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from despina.api import free_port
from despina.auth import KeyRing, ServerDatabase, encode_api_token
from grants_scenario import ALPHA, FILE_PATH, GAMMA, RUN, marker, write_grants_scenario

pytestmark = pytest.mark.browser

WAIT_MS = 15_000
START_TIMEOUT_S = 30.0
RECHECK_S = 1.0  # the server re-reads a session's key this often (default 60 s)


class LoginServer:
    """``despina server --ui on`` in a child process, as a user starts it."""

    def __init__(self, folder: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "despina", "server", "--db", str(folder)]
        command += ["--port", str(self.port), "--ui", "on"]
        command += ["--ui-session-recheck", str(RECHECK_S)]
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/login", timeout=1).is_success:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"despina server did not answer:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ui-login")
    write_grants_scenario(path)
    return path


@pytest.fixture(scope="module")
def keys(folder: Path) -> Iterator[KeyRing]:
    db = ServerDatabase(str(folder))
    yield KeyRing(db)
    db.close()


@pytest.fixture(scope="module")
def server(folder: Path, keys: KeyRing) -> Iterator[LoginServer]:
    running = LoginServer(folder, folder / "server.log")
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


def alpha_token(server: LoginServer, keys: KeyRing) -> tuple[str, str]:
    """A token granted project ALPHA only, and its key id."""
    api_key, grant = keys.create_key("team-a", "alpha")
    return encode_api_token(server.url, api_key), grant.key_id


def submit_token(page: Any, token: str) -> None:
    page.fill("#token", token)
    with page.expect_navigation():
        page.click("#submit")


def fetch_status(page: Any, path: str) -> int:
    status: int = page.evaluate("async (p) => (await fetch(p)).status", path)
    return status


def test_login_grants_and_logout(
    page: Any, server: LoginServer, keys: KeyRing, tmp_path: Path
) -> None:
    assert "web UI at http://127.0.0.1:" in server.log.read_text()  # the startup line says so
    page.goto(f"{server.url}/")
    assert "/login?next=%2F" in page.url
    page.screenshot(path=str(tmp_path / "login.png"))

    revoked_key, revoked = keys.create_key("team-a", "alpha")
    keys.revoke(revoked.key_id)
    for bad in ("garbage", encode_api_token(server.url, revoked_key)):
        submit_token(page, bad)
        assert "invalid or revoked" in page.locator("#login-error").inner_text()
        assert not page.context.cookies()

    token, key_id = alpha_token(server, keys)
    submit_token(page, token)
    assert page.url.startswith(f"{server.url}/runs?project={quote(ALPHA, safe='')}")
    page.wait_for_function(
        "() => window.__despinaRuns && __despinaRuns.loads >= 1", timeout=WAIT_MS
    )
    assert page.evaluate("() => __despinaRuns.rows.map(r => r.tags)") == [[marker(ALPHA)]]
    options = page.locator("header select option").all_inner_texts()
    assert options == [ALPHA]
    assert key_id in page.locator("#viewer").inner_text()
    (cookie,) = page.context.cookies()
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == (True, "Lax", False)
    page.screenshot(path=str(tmp_path / "runs.png"))

    page.goto(f"{server.url}/run?project={quote(ALPHA, safe='')}&run={RUN}")
    page.wait_for_selector(f"text={marker(ALPHA)}", timeout=WAIT_MS)

    # Another workspace's project: a 404 page, and 404 from each JSON route and the file.
    page.goto(f"{server.url}/run?project={quote(GAMMA, safe='')}&run={RUN}")
    assert "no project" in page.locator("#missing").inner_text()
    assert marker(GAMMA) not in page.content()
    gamma = quote(GAMMA, safe="")
    for path in (
        f"/ui-api/run?project={gamma}&run={RUN}",
        f"/ui-api/runs?project={gamma}",
        f"/ui-api/metric?project={gamma}&run={RUN}&attribute=train/loss",
        f"/ui-api/compare?project={gamma}&run={RUN}",
        f"/ui-api/file?project={gamma}&path={quote(FILE_PATH, safe='')}",
    ):
        assert fetch_status(page, path) == 404, path

    with page.expect_navigation():
        page.click("#logout")
    assert page.url == f"{server.url}/login"
    assert not page.context.cookies()
    assert fetch_status(page, "/ui-api/projects") == 401


def test_a_revoked_tokens_session_ends(page: Any, server: LoginServer, keys: KeyRing) -> None:
    token, key_id = alpha_token(server, keys)
    page.goto(f"{server.url}/login")
    submit_token(page, token)
    page.wait_for_function(
        "() => window.__despinaRuns && __despinaRuns.loads >= 1", timeout=WAIT_MS
    )
    assert keys.revoke(key_id)
    time.sleep(RECHECK_S * 1.5)
    assert fetch_status(page, f"/ui-api/runs?project={quote(ALPHA, safe='')}") == 401
    # The open page's next fetch is refused: it goes to the login page, to come back after.
    page.fill("#filter", "tag:bench")
    with page.expect_navigation(url=f"{server.url}/login?next=**"):
        page.press("#filter", "Enter")
    assert "%2Fruns%3Fproject%3Dteam-a%252Falpha" in page.url
    page.goto(f"{server.url}/runs?project={quote(ALPHA, safe='')}")
    assert "/login?next=" in page.url


def test_a_form_on_another_site_cannot_log_in(
    page: Any, server: LoginServer, keys: KeyRing
) -> None:
    token, _ = alpha_token(server, keys)
    evil = (
        f'<form id="f" method="post" action="{server.url}/login">'
        f'<input name="token" value="{token}"></form>'
        "<script>document.getElementById('f').submit()</script>"
    )
    page.route(
        "http://evil.test/**", lambda route: route.fulfill(body=evil, content_type="text/html")
    )
    with page.expect_navigation(url=f"{server.url}/login"):
        page.goto("http://evil.test/")
    assert "cross-site request refused" in page.content()
    assert not page.context.cookies()
