"""Two ``despina server`` processes on one PostgreSQL serve the same data (stateless HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from despina.api import ServerProcess
from despina.auth import KeyRing, ServerDatabase, encode_api_token
from neptune_api.proto.neptune_pb.api.v1.model import leaderboard_entries_pb2 as le
from neptune_api.proto.neptune_pb.api.v1.model import series_values_pb2 as sv
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2
from neptune_api.proto.neptune_pb.ingest.v1.pub.client_pb2 import SubmitResponse
from support.postgres_support import postgres_location

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PROJECT = "team/shared"
BATCH = 500
BATCHES = 6  # alternating between the two servers


@pytest.fixture
def servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, ...]]:
    url = postgres_location()
    monkeypatch.setenv("DESPINA_FILES_DIR", str(tmp_path / "files"))  # inherited by both
    api_key, _ = KeyRing(ServerDatabase(url)).create_key("team")
    first = ServerProcess(url, tmp_path / "first.log").launch()
    second = ServerProcess(url, tmp_path / "second.log").launch()
    try:
        first.wait_ready()
        second.wait_ready()
        yield first, second, encode_api_token(first.url, api_key)
    finally:
        first.stop()
        second.stop()


def _bearer(base: str, token: str) -> dict[str, str]:
    answer = httpx.get(
        f"{base}/api/backend/v1/authorization/oauth-token", headers={"X-Neptune-Api-Token": token}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['accessToken']}"}


def _ingest(base: str, auth: dict[str, str], op: Any) -> None:
    answer = httpx.post(
        f"{base}/api/client/v1/ingest",
        content=op.SerializeToString(),
        headers={**auth, "Content-Type": "application/x-protobuf"},
    )
    assert answer.status_code == 200, answer.text
    assert SubmitResponse.FromString(answer.content).request_ids


def _metrics(first_step: int) -> Any:
    op = ingest_pb2.RunOperation(project=PROJECT, run_id="r")
    for step in range(first_step, first_step + BATCH):
        snap = op.update_batch.snapshots.add()
        snap.step.whole = step
        snap.timestamp.seconds = 1_700_000_000 + step
        snap.append["m"].float64 = step * 0.5
    return op


def test_two_server_processes_share_one_postgres(servers: tuple[Any, ...]) -> None:
    first, second, token = servers
    # A token exchanged at one process is honoured by the other: the secret is in the database.
    auth = _bearer(first.url, token)
    create = ingest_pb2.RunOperation(project=PROJECT, run_id="r")
    create.create.family = "r"
    create.create.experiment_id = "exp"
    _ingest(second.url, auth, create)
    for k in range(BATCHES):
        _ingest((first, second)[k % 2].url, auth, _metrics(k * BATCH))
    request = {
        "requests": [
            {
                "requestId": "0",
                "series": {"holder": {"identifier": f"CUSTOM/{PROJECT}/r"}, "attribute": "m"},
            }
        ],
        "order": "ascending",
    }
    for server in (first, second):
        answer = httpx.post(
            f"{server.url}/api/leaderboard/v1/proto/attributes/series/float",
            json=request,
            headers=auth,
        )
        assert answer.status_code == 200, answer.text
        (series,) = sv.ProtoFloatSeriesValuesResponseDTO.FromString(answer.content).series
        points = [(p.step, p.value) for p in series.series.values]
        assert points == [(float(s), s * 0.5) for s in range(BATCH * BATCHES)]
        found = httpx.post(
            f"{server.url}/api/leaderboard/v1/proto/leaderboard/entries/search/"
            f"?projectIdentifier={PROJECT}&type=run",
            json={"experimentLeader": True},
            headers=auth,
        )
        entries = le.ProtoLeaderboardEntriesSearchResultDTO.FromString(found.content).entries
        names = {a.name: a for a in entries[0].attributes}
        assert names["sys/name"].string_properties.value == "exp"
        assert names["m"].float_series_properties.last == (BATCH * BATCHES - 1) * 0.5
