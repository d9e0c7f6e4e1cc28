"""The real server app over a store, for the input-limit tests (run on every engine through the
``store_location`` fixture).

``serve`` yields an :class:`Ingest` that posts raw bodies to ``/ingest`` of the in-process app
over that store and reads back what ``/ingest/check`` says about them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from despina.api import ServerContext, ServerSettings, create_app
from despina.auth import encode_api_token
from fastapi.testclient import TestClient
from neptune_api.proto.neptune_pb.ingest.v1.pub.client_pb2 import (
    BulkRequestStatus,
    RequestIdList,
    SubmitResponse,
)

__all__ = ["Ingest", "serve"]

BASE_URL = "http://testserver"
INGEST = "/api/client/v1/ingest"
PROTOBUF = {"Content-Type": "application/x-protobuf"}


@dataclass
class Ingest:
    """``/ingest`` of the real app; ``post`` answers (HTTP status, issues from /ingest/check)."""

    client: TestClient
    auth: dict[str, str]
    project: str

    def post(self, body: bytes) -> tuple[int, list[tuple[int, str]]]:
        answer = self.client.post(INGEST, content=body, headers=self.auth | PROTOBUF)
        if answer.status_code != 200:
            return answer.status_code, []
        ids = RequestIdList()
        ids.ids.add(value=SubmitResponse.FromString(answer.content).request_id)
        check = self.client.post(
            f"{INGEST}/check",
            params={"projectIdentifier": self.project},
            content=ids.SerializeToString(),
            headers=self.auth | PROTOBUF,
        )
        assert check.status_code == 200, check.text
        (status,) = BulkRequestStatus.FromString(check.content).statuses
        message = status.shared_error_message if status.HasField("shared_error_message") else ""
        return 200, [(entry.detail, message) for entry in status.code_by_count]


def serve(store_location: str) -> Iterator[Ingest]:
    """The app over ``store_location`` with a token for workspace ``ws`` (project ``ws/p``)."""
    settings = ServerSettings(db=store_location)
    context = ServerContext.open(settings)
    try:
        with TestClient(create_app(settings, context), base_url=BASE_URL) as client:
            api_key, _ = context.keys.create_key("ws", None)
            token = encode_api_token(BASE_URL, api_key)
            answer = client.get(
                "/api/backend/v1/authorization/oauth-token",
                headers={"X-Neptune-Api-Token": token},
            )
            assert answer.status_code == 200, answer.text
            auth = {"Authorization": f"Bearer {answer.json()['accessToken']}"}
            yield Ingest(client, auth, "ws/p")
    finally:
        context.close()
