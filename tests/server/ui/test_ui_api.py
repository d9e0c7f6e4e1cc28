"""The UI's JSON endpoints and static files, against the scenario store (in-process, ASGI)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ui_scenario import (
    BASE_STEPS,
    FILE_BYTES,
    FILE_PATH,
    FORK_LAST_STEP,
    FORK_STEP,
    LOG_LINES,
    MANY_RUNS,
    RUN_COUNT,
    SPIKE_STEP,
    SPIKE_VALUE,
)

TOTAL_RUNS = RUN_COUNT
# despina ui answers only the names it listens as (DNS rebinding): not TestClient's default.
LOCAL_UI = "http://127.0.0.1"


@pytest.fixture(scope="module")
def client(store: Any) -> Iterator[Any]:
    from despina.ui import create_app
    from fastapi.testclient import TestClient

    with TestClient(create_app(store), base_url=LOCAL_UI) as test_client:
        yield test_client


def get(client: Any, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_projects_and_attributes(client: Any, project: str) -> None:
    assert project in get(client, "/ui-api/projects")["projects"]
    names = {
        a["name"]: a["type"]
        for a in get(client, "/ui-api/attributes", project=project)["attributes"]
    }
    assert names["params/lr"] == "float"
    assert names["train/loss"] == "float_series"


def test_runs_page_filters_sorts_and_pages(client: Any, project: str) -> None:
    body = get(client, "/ui-api/runs", project=project, limit=10)
    assert (body["total"], body["matched"], len(body["rows"])) == (TOTAL_RUNS, TOTAL_RUNS, 10)
    # newest first by default: the many-* runs were created last
    assert body["rows"][0]["run"] == f"many-{MANY_RUNS - 1:03d}"

    body = get(
        client,
        "/ui-api/runs",
        project=project,
        filter="params/lr > 0.05",
        column=["params/lr", "train/loss"],
        sort="params/lr",
        dir="asc",
        limit=100,
    )
    runs = [row["run"] for row in body["rows"]]
    assert runs == [f"many-{n:03d}" for n in range(51, MANY_RUNS)] + ["other-2"]
    assert body["rows"][-1]["values"] == {"params/lr": 0.1, "train/loss": pytest.approx(2.0 / 200)}

    body = get(
        client, "/ui-api/runs", project=project, filter="tag:baseline", column=["train/loss"]
    )
    assert [(r["run"], r["tags"], r["experiment"]) for r in body["rows"]] == [
        ("base-1", ["baseline"], "exp-a")
    ]
    assert body["rows"][0]["values"]["train/loss"] == pytest.approx(1.0 / BASE_STEPS)

    page = get(client, "/ui-api/runs", project=project, offset=60, limit=50)
    assert len(page["rows"]) == TOTAL_RUNS - 60


@pytest.mark.parametrize(
    ("params", "status", "fragment"),
    [
        ({"filter": "params/lr >"}, 400, "filter: "),
        ({"limit": 100000}, 422, "less than or equal to 500"),
        ({"dir": "up"}, 422, "asc|desc"),
    ],
)
def test_runs_page_bad_input(
    client: Any, project: str, params: dict[str, Any], status: int, fragment: str
) -> None:
    response = client.get("/ui-api/runs", params={"project": project, **params})
    assert response.status_code == status
    assert fragment in response.text


def test_run_details_with_lineage(client: Any, project: str) -> None:
    fork = get(client, "/ui-api/run", project=project, run="fork-1")
    assert fork["parent"] == {"run": "base-1", "step": FORK_STEP}
    configs = {c["name"]: c["value"] for c in fork["configs"]}
    assert configs["params/lr"] == 0.005
    assert "train/loss" in fork["metrics"]
    base = get(client, "/ui-api/run", project=project, run="base-1")
    assert base["children"] == [{"run": "fork-1", "step": FORK_STEP}]
    assert base["tags"] == ["baseline"]
    assert base["string_series"] == ["runtime/stdout"]
    assert base["histogram_series"] == ["weights/hist"]
    assert [f["path"] for f in base["files"]] == [FILE_PATH]
    assert client.get("/ui-api/run", params={"project": project, "run": "nope"}).status_code == 404


def test_metric_is_aggregated_keeping_the_spike(client: Any, project: str) -> None:
    body = get(
        client, "/ui-api/metric", project=project, run="base-1", attribute="train/loss", width=100
    )
    (series,) = body["series"]
    assert series["aggregated"] and series["total"] == BASE_STEPS
    assert len(series["x"]) <= 100
    assert max(series["hi"]) == SPIKE_VALUE  # the one-step spike survives aggregation
    assert series["last_step"] == BASE_STEPS - 1

    zoomed = get(
        client,
        "/ui-api/metric",
        project=project,
        run="base-1",
        attribute="train/loss",
        width=100,
        **{"from": SPIKE_STEP - 20, "to": SPIKE_STEP + 20},
    )
    (series,) = zoomed["series"]
    assert not series["aggregated"]
    assert series["x"] == list(range(SPIKE_STEP - 20, SPIKE_STEP + 21))
    assert series["y"][20] == SPIKE_VALUE


def test_metric_of_a_fork_carries_its_inherited_part(client: Any, project: str) -> None:
    body = get(
        client,
        "/ui-api/metric",
        project=project,
        run=["fork-1", "base-1"],
        attribute="train/loss",
        width=2000,
    )
    fork, base = body["series"]
    assert fork["run"] == "fork-1" and fork["fork_step"] == FORK_STEP
    assert fork["x"][0] == 0 and fork["x"][-1] == FORK_LAST_STEP
    assert fork["inherited"] == FORK_STEP + 1  # steps 0..600 come from base-1
    assert fork["y"][SPIKE_STEP] == SPIKE_VALUE
    assert base["inherited"] == 0


def test_metric_by_time_and_tail(client: Any, project: str) -> None:
    body = get(
        client,
        "/ui-api/metric",
        project=project,
        run="base-1",
        attribute="train/acc",
        x="time",
        width=2000,
    )
    (series,) = body["series"]
    assert series["x"][1] - series["x"][0] == pytest.approx(1.0)  # one second per step
    tail = get(
        client,
        "/ui-api/metric/tail",
        project=project,
        run="base-1",
        attribute="train/loss",
        after=BASE_STEPS - 4,
    )
    assert tail["step"] == [BASE_STEPS - 3, BASE_STEPS - 2, BASE_STEPS - 1]
    assert not tail["truncated"]


def test_metric_by_time_is_cut_by_time_keeping_the_spike(client: Any, project: str) -> None:
    body = get(
        client,
        "/ui-api/metric",
        project=project,
        run="fork-1",
        attribute="train/loss",
        x="time",
        width=100,
    )
    (series,) = body["series"]
    assert series["aggregated"] and series["total"] == FORK_LAST_STEP + 1
    assert len(series["x"]) <= 50 and series["x"] == sorted(series["x"])
    assert max(series["hi"]) == SPIKE_VALUE
    assert 0 < series["inherited"] < len(series["x"])  # base-1's part, then fork-1's own


def test_metric_bad_input(client: Any, project: str) -> None:
    response = client.get(
        "/ui-api/metric",
        params={"project": project, "run": "base-1", "attribute": "train/loss", "width": 5},
    )
    assert response.status_code == 422 and "greater than or equal to 50" in response.text
    response = client.get(
        "/ui-api/metric",
        params={"project": project, "run": "base-1", "attribute": "train/loss", "from": 5, "to": 1},
    )
    assert response.status_code == 400 and "from: 5.0 is after to: 1.0" in response.text


def test_series_pages_and_files(client: Any, project: str) -> None:
    first = get(
        client,
        "/ui-api/series",
        project=project,
        run="base-1",
        attribute="runtime/stdout",
        limit=10,
    )
    assert [p["value"] for p in first["points"]] == [f"epoch {n} done" for n in range(10)]
    assert first["more"]
    rest = get(
        client,
        "/ui-api/series",
        project=project,
        run="base-1",
        attribute="runtime/stdout",
        after=9,
        limit=1000,
    )
    assert len(rest["points"]) == LOG_LINES - 10 and not rest["more"]
    hist = get(client, "/ui-api/series", project=project, run="base-1", attribute="weights/hist")
    assert hist["points"][-1]["value"]["edges"] == [0.0, 1.0, 2.0, 3.0]
    assert hist["points"][-1]["value"]["values"] == [3, 5, 2]
    response = client.get("/ui-api/file", params={"project": project, "path": FILE_PATH})
    assert response.status_code == 200 and response.content == FILE_BYTES
    assert "notes.txt" in response.headers["content-disposition"]
    missing = client.get("/ui-api/file", params={"project": project, "path": "no/such"})
    assert missing.status_code == 404


def test_compare_flags_differences(client: Any, project: str) -> None:
    body = get(client, "/ui-api/compare", project=project, run=["base-1", "fork-1", "other-2"])
    rows = {row["name"]: row for row in body["rows"]}
    assert rows["params/lr"]["values"] == [0.01, 0.005, 0.1] and rows["params/lr"]["differs"]
    assert rows["params/opt"]["values"] == ["adam", "adam", "sgd"]
    assert body["metrics"][0] == "train/acc" or "train/loss" in body["metrics"]


def test_pages_and_static_files(client: Any, project: str) -> None:
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 307 and "/runs?project=" in home.headers["location"]
    page = client.get("/runs", params={"project": project})
    assert page.status_code == 200 and "uPlot.iife.min.js" in page.text
    assert client.get("/ui-static/vendor/uplot/LICENSE").status_code == 200
    assert client.get("/ui-static/../_api.py").status_code == 404
    assert client.get("/compare", params={"project": project}).status_code == 422


def test_a_missing_run_is_a_404_page_naming_it(client: Any, project: str) -> None:
    missing = client.get("/run", params={"project": project, "run": "no-such-run"})
    assert missing.status_code == 404 and "no-such-run" in missing.text
    assert 'id="missing"' in missing.text
    present = client.get("/run", params={"project": project, "run": "base-1"})
    assert present.status_code == 200 and 'id="missing"' not in present.text


def test_neptune_style_run_links_redirect(client: Any) -> None:
    response = client.get(
        "/ui-ws/ui-proj/-/run/", params={"customId": "base-1"}, follow_redirects=False
    )
    assert response.status_code == 307
    assert response.headers["location"] == "/run?project=ui-ws%2Fui-proj&run=base-1"


def test_unknown_project_and_empty_store(client: Any, tmp_path: Any) -> None:
    from despina.store import open_store
    from despina.ui import create_app
    from fastapi.testclient import TestClient

    missing = client.get("/ui-api/runs", params={"project": "no/such"})
    assert missing.status_code == 404 and "no project 'no/such'" in missing.text
    with (
        open_store(str(tmp_path)) as empty,
        TestClient(create_app(empty), base_url=LOCAL_UI) as empty_client,
    ):
        home = empty_client.get("/")
        assert home.status_code == 200 and "No project yet" in home.text
        assert empty_client.get("/ui-api/projects").json() == {"projects": []}


def test_time_axis_refuses_a_series_too_large(
    client: Any, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import despina.ui._charts as charts

    monkeypatch.setattr(charts, "MAX_TIME_AXIS_POINTS", BASE_STEPS - 1)
    params = {"project": project, "run": "base-1", "attribute": "train/acc", "x": "time"}
    response = client.get("/ui-api/metric", params=params)
    assert response.status_code == 400
    assert "has 1,000, the limit is 999 (use x = step)" in response.text
