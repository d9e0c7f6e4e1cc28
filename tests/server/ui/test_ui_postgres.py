"""The UI over a PostgreSQL store: the same JSON as over the embedded SQLite one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support.postgres_support import postgres_location
from ui_scenario import BASE_STEPS, FORK_STEP, RUN_COUNT, SPIKE_VALUE, write_runs

# despina ui answers only the names it listens as (DNS rebinding): not TestClient's default.
LOCAL_UI = "http://127.0.0.1"

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from despina.store import open_store
    from despina.ui import create_app
    from fastapi.testclient import TestClient

    location = postgres_location()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DESPINA_FILES_DIR", str(tmp_path_factory.mktemp("pg-files")))
        with open_store(location) as store:
            write_runs(store)
            with TestClient(create_app(store), base_url=LOCAL_UI) as test_client:
                yield test_client


def test_ui_reads_a_postgres_store(client: Any, project: str) -> None:
    runs = client.get("/ui-api/runs", params={"project": project, "filter": "tag:baseline"})
    assert runs.status_code == 200, runs.text
    assert runs.json()["total"] == RUN_COUNT
    assert [row["run"] for row in runs.json()["rows"]] == ["base-1"]
    fork = client.get("/ui-api/run", params={"project": project, "run": "fork-1"}).json()
    assert fork["parent"] == {"run": "base-1", "step": FORK_STEP}
    chart = client.get(
        "/ui-api/metric",
        params={"project": project, "run": "base-1", "attribute": "train/loss", "width": 100},
    ).json()
    (series,) = chart["series"]
    assert series["aggregated"] and series["total"] == BASE_STEPS
    assert max(series["hi"]) == SPIKE_VALUE
