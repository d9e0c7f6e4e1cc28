"""A real S3-compatible HTTP server on 127.0.0.1 for tests: moto's standalone server.

``s3_bucket(monkeypatch)`` starts it in a child process, creates a bucket and points the AWS
environment (credentials, region, ``AWS_ENDPOINT_URL``) at it, so ``DESPINA_FILES=s3://…`` in
this process and in every server process started after it reaches that server over HTTP.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest

START_TIMEOUT_S = 30.0


@dataclass
class S3Server:
    endpoint: str
    bucket: str

    def files_url(self, prefix: str = "despina") -> str:
        return f"s3://{self.bucket}/{prefix}"

    def client(self) -> object:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """A moto S3 server with one empty bucket; the AWS environment points at it."""
    pytest.importorskip("moto.server", reason="moto[server] is in the dev extra")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        for name, value in {
            "AWS_ACCESS_KEY_ID": "despina-test",
            "AWS_SECRET_ACCESS_KEY": "despina-test-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
        }.items():
            monkeypatch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        server = S3Server(endpoint, f"despina-{uuid.uuid4().hex[:12]}")
        server.client().create_bucket(Bucket=server.bucket)  # type: ignore[attr-defined]
        yield server
    finally:
        process.terminate()
        process.wait(10)
