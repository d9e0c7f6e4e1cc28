"""The operator's basics (issue 20): health, readiness, JSON request logs, metrics, SIGTERM."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from despina.api import ServerContext, ServerProcess
from despina.auth import KeyRing, ServerDatabase, encode_api_token
from despina.store import LocalFiles
from fastapi.testclient import TestClient
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def test_health_and_readiness_need_no_login(client: TestClient, ctx: ServerContext) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}
    blocker = ctx.store.files.root.parent / "not-a-folder"
    blocker.write_text("a file where the files folder should be")
    ctx.store.files = LocalFiles(blocker / "files")
    client.app.state.ready_answer = None  # type: ignore[attr-defined]  # skip the 1 s reuse
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "unavailable" and "files" in answer.json()
    assert "database" not in answer.json()


def _metrics_url(log: Path) -> str:
    found = re.search(r"metrics at (http://\S+/metrics)", log.read_text())
    assert found, log.read_text()
    return found.group(1)


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} {labels} in\n{text}")


@pytest.mark.slow
def test_json_request_log_metrics_port_and_sigterm_exit(tmp_path: Path) -> None:
    location = str(tmp_path / "store")
    api_key, _ = KeyRing(ServerDatabase(location)).create_key("team")
    key_id = api_key.split("_")[1]
    log = tmp_path / "server.log"
    server = ServerProcess(
        location, log, args=["--log-format", "json", "--metrics-port", "0"]
    ).start()
    try:
        token = encode_api_token(server.url, api_key)
        exchanged = httpx.get(
            f"{server.url}/api/backend/v1/authorization/oauth-token",
            headers={"X-Neptune-Api-Token": token},
        ).json()
        auth = {"Authorization": f"Bearer {exchanged['accessToken']}"}
        op = RunOperation(project="team/p", run_id="r")
        op.create.run_id = "r"
        update = RunOperation(project="team/p", run_id="r")
        for step in range(50):
            snap = update.update_batch.snapshots.add()
            snap.step.whole = step
            snap.append["m"].float64 = step
        for body in (op, update):
            answer = httpx.post(
                f"{server.url}/api/client/v1/ingest",
                content=body.SerializeToString(),
                headers={**auth, **PROTOBUF},
            )
            assert answer.status_code == 200, answer.text
        assert httpx.get(f"{server.url}/no/such/page-secret").status_code == 404
        assert httpx.get(f"{server.url}/metrics").status_code == 404  # not on the API port
        scraped = httpx.get(_metrics_url(log)).text
    finally:
        status = server.stop()
    assert status == 0  # SIGTERM is a deliberate stop

    route = "/api/client/v1/ingest"
    assert _sample(scraped, "despina_http_requests_total", route=route, status="200") == 2
    assert _sample(scraped, "despina_http_request_duration_seconds_count", route=route) == 2
    assert _sample(scraped, "despina_ingest_snapshots_total") == 50
    assert _sample(scraped, "despina_ingest_in_flight") == 0
    assert _sample(scraped, "despina_http_requests_total", route="unmatched", status="404") >= 1

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("route") == route]
    assert len(requests) == 2
    for line in requests:
        assert line["status"] == 200 and line["key_id"] == key_id and line["latency_ms"] > 0
    text = log.read_text()
    assert api_key not in text and token not in text and exchanged["accessToken"] not in text
    assert "page-secret" not in text  # an unmatched path is the client's text, not logged
