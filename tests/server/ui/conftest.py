"""The UI under test: a real store written through its single write path, the real UI app on
uvicorn on 127.0.0.1, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_scenario import PROJECT, write_scenario

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class UiServer:
    """The UI app on uvicorn in a background thread, on a free loopback port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> UiServer:
        self._thread.start()
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the UI server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ui-store")
    write_scenario(folder)
    return folder


@pytest.fixture(scope="session")
def store(store_dir: Path) -> Iterator[Any]:
    from despina.store import open_store

    opened = open_store(str(store_dir))
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def ui_url(store: Any) -> Iterator[str]:
    from despina.ui import create_app

    with UiServer(create_app(store)) as server:
        yield server.url


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


# Module scope, not session: while Playwright's sync API is started it marks its event loop as
# *running* on the main thread between calls (its greenlet dispatcher resumes that loop on every
# call), so any later test in this process that calls asyncio.run() - Flyte's async tasks do -
# fails with "cannot be called from a running event loop". Each browser module starts and stops
# its own Playwright (a chromium launch costs about a second), and teardown checks that the loop
# is gone, so a leak fails here instead of in some unrelated test that runs later.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if _running_loop() is not None:
        pytest.fail("an event loop is already running on the main thread before Playwright")
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
    finally:
        playwright.stop()
    left = _running_loop()
    assert left is None, f"Playwright left its event loop running on the main thread: {left!r}"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    # The UI sends a Content-Security-Policy: anything it blocks (an inline script, handler or
    # style) is a broken page even when no JavaScript error follows; chromium logs each one.
    opened.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield opened
    context.close()
    assert not errors, f"JavaScript errors or CSP violations on the page: {errors}"


@pytest.fixture
def project() -> str:
    return PROJECT
