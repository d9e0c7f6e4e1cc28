"""create_project / list_projects against the real server app (in-process) and the embedded
store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from neptune_scale import Run, create_project, list_projects
from neptune_scale._projects import NeptuneProjectAlreadyExists

BASE_URL = "http://testserver"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Any, str]]:
    pytest.importorskip("fastapi")
    from despina.api import ServerContext, ServerSettings, create_app
    from despina.auth import encode_api_token
    from fastapi.testclient import TestClient

    ctx = ServerContext.open(ServerSettings(db=str(tmp_path / "store")))
    api_key, _ = ctx.keys.create_key("team")
    with TestClient(create_app(ctx.settings, ctx), base_url=BASE_URL) as client:
        yield client, encode_api_token(BASE_URL, api_key)
    ctx.close()


# Starlette's TestClient objects to per-request timeouts, which real httpx clients need.
@pytest.mark.filterwarnings("ignore:You should not use the 'timeout' argument")
def test_create_and_list_on_the_server(server: tuple[Any, str]) -> None:
    client, token = server
    assert create_project("proj-x", workspace="team", api_token=token, _client=client) == (
        "team/proj-x"
    )
    assert create_project("team/proj-x", api_token=token, _client=client) == "team/proj-x"
    with pytest.raises(NeptuneProjectAlreadyExists):
        create_project("team/proj-x", fail_if_exists=True, api_token=token, _client=client)
    assert "team/proj-x" in list_projects(api_token=token, _client=client)


def test_embedded_store_projects(tmp_path: Path) -> None:
    assert list_projects(log_directory=tmp_path) == []
    with Run(
        project="ws/first",
        run_id="r",
        log_directory=tmp_path,
        enable_console_log_capture=False,
        source_tracking_config=None,
    ) as run:
        run.log_metrics({"m": 1.0}, step=1)
    assert list_projects(log_directory=tmp_path) == ["ws/first"]
    assert create_project("ws/second", log_directory=tmp_path) == "ws/second"
    with pytest.raises(NeptuneProjectAlreadyExists):
        create_project("first", workspace="ws", fail_if_exists=True, log_directory=tmp_path)
    with pytest.raises(ValueError, match="workspace/project"):
        create_project("no-workspace")
