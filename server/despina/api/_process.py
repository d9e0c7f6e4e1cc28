"""A server in a child process on 127.0.0.1, for tests, benchmarks and `despina sync` checks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import httpx

__all__ = ["ServerProcess", "free_port"]

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """``with ServerProcess(db) as server:`` runs ``despina server`` until the block ends.

    Output (uvicorn's logs) goes to ``log_path``; ``server.url`` is the base URL.
    """

    def __init__(
        self, db: str, log_path: Path, *, port: int | None = None, args: Sequence[str] = ()
    ) -> None:
        self.db = db
        self.args = list(args)  # more `despina server` options
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        """Launch and wait until the server answers."""
        return self.launch().wait_ready()

    def launch(self) -> ServerProcess:
        """Start the child process without waiting (start several, then ``wait_ready`` each)."""
        command = [sys.executable, "-m", "despina", "server", "--db", self.db]
        command += ["--port", str(self.port)]
        command += self.args
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()
            )
        return self

    def wait_ready(self) -> ServerProcess:
        assert self._process is not None, "launch() first"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the server exited at start-up:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/api/backend/v1/clients/config", timeout=1).is_success:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(POLL_INTERVAL_S)
        self.stop()
        raise RuntimeError(f"the server did not answer within {START_TIMEOUT_S} s")

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; the exit status (None: not running)."""
        if self._process is None:
            return None
        self._process.terminate()
        try:
            self._process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        status, self._process = self._process.returncode, None
        return status

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
