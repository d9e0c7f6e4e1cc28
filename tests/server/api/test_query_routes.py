"""The neptune-query read side in-process, over a real store: paging, lineage, NQL, grants."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from despina.api import ServerContext, ServerSettings
from fastapi.testclient import TestClient
from neptune_api.proto.neptune_pb.api.v1.model import attributes_pb2 as at
from neptune_api.proto.neptune_pb.api.v1.model import leaderboard_entries_pb2 as le
from neptune_api.proto.neptune_pb.api.v1.model import requests_pb2 as rq
from neptune_api.proto.neptune_pb.api.v1.model import series_values_pb2 as sv
from query_data import B_POINTS, FORK_STEP, LOSS_POINTS, PROJECT, loss, operations
from support.postgres_support import postgres_location

LB = "/api/leaderboard/v1"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ServerSettings:
    """The read side over each store engine (overrides the API suite's SQLite-only fixture)."""
    if request.param == "sqlite":
        return ServerSettings(db=str(tmp_path / "store"))
    monkeypatch.setenv("DESPINA_FILES_DIR", str(tmp_path / "files"))
    return ServerSettings(db=postgres_location())


SEARCH = f"{LB}/proto/leaderboard/entries/search/?projectIdentifier={PROJECT}&type=run"


@pytest.fixture
def ids(ctx: ServerContext) -> dict[str, str]:
    """Custom run id -> sys/id of the three runs of ``query_data``."""
    assert all(issues == () for issues in ctx.store.apply(operations()))
    with ctx.store.engine.read() as tx:
        project = tx.project(PROJECT)
        return {r.custom_id: r.short_id for r in tx.runs(project.pk)}


def _search(client: TestClient, auth: dict[str, str], body: dict[str, Any]) -> Any:
    answer = client.post(SEARCH, json=body, headers=auth)
    assert answer.status_code == 200, answer.text
    return le.ProtoLeaderboardEntriesSearchResultDTO.FromString(answer.content)


def _props(entry: Any) -> dict[str, Any]:
    out = {}
    for a in entry.attributes:
        kind = {
            "string": a.string_properties,
            "float": a.float_properties,
            "int": a.int_properties,
            "bool": a.bool_properties,
            "datetime": a.datetime_properties,
            "stringSet": a.string_set_properties,
            "floatSeries": a.float_series_properties,
            "stringSeries": a.string_series_properties,
            "histogramSeries": a.histogram_series_properties,
        }[a.type]
        out[a.name] = kind
    return out


def _float_page(
    client: TestClient, auth: dict[str, str], holder: str, **options: Any
) -> list[tuple[float, float]]:
    request = {
        "requestId": "r0",
        "series": {
            "holder": {"identifier": holder, "type": "experiment"},
            "attribute": "train/loss",
            "lineage": options.pop("lineage", "FULL"),
        },
    }
    if "after" in options:
        request["afterStep"] = options.pop("after")
    body = {"requests": [request], **options}
    answer = client.post(f"{LB}/proto/attributes/series/float", json=body, headers=auth)
    assert answer.status_code == 200, answer.text
    (series,) = sv.ProtoFloatSeriesValuesResponseDTO.FromString(answer.content).series
    assert series.requestId == "r0"
    return [(p.step, p.value) for p in series.series.values]


def test_float_series_pages_are_exact_in_both_orders(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str]
) -> None:
    holder = f"{PROJECT}/{ids['a']}"
    pages, after = [], None
    while True:
        extra = {} if after is None else {"after": after}
        page = _float_page(
            client, team_auth, holder, perSeriesPointsLimit=1000, order="descending", **extra
        )
        pages.append(len(page))
        if len(page) < 1000:
            break
        after = page[-1][0]
    assert pages == [1000, 1000, 500]
    asc = _float_page(client, team_auth, holder, perSeriesPointsLimit=7, order="ascending", after=3)
    assert asc == [(float(s), loss(s)) for s in range(4, 11)]


def test_float_series_lineage_step_range_and_custom_holder(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str]
) -> None:
    full = _float_page(client, team_auth, f"CUSTOM/{PROJECT}/b", order="ascending")
    expected = [(float(s), loss(s)) for s in range(FORK_STEP + 1)]
    expected += [(float(s), -float(s)) for s in range(FORK_STEP + 1, FORK_STEP + 1 + B_POINTS)]
    assert full == expected
    own = _float_page(client, team_auth, f"{PROJECT}/{ids['b']}", lineage="NONE")
    assert [s for s, _ in own] == [float(s) for s in range(FORK_STEP + 1, FORK_STEP + 1 + B_POINTS)]
    ranged = _float_page(
        client, team_auth, f"{PROJECT}/{ids['b']}", stepRange={"from": 998, "to": None}
    )
    assert [s for s, _ in ranged][:4] == [998.0, 999.0, 1000.0, 1001.0]
    assert _float_page(client, team_auth, f"CUSTOM/{PROJECT}/missing") == []


def test_search_filters_sorts_pages_and_projects(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str]
) -> None:
    heads = _search(client, team_auth, {"experimentLeader": True, "attributeFilters": []})
    labels = sorted(_props(e)["sys/name"].value for e in heads.entries)
    assert labels == ["exp", "other"] and heads.matching_item_count == 2
    query = '(`params/lr`:float > "0.001") AND (`sys/tags`:stringSet CONTAINS "baseline")'
    found = _search(
        client,
        team_auth,
        {"query": {"query": query}, "attributeFilters": [{"path": "params/lr"}]},
    )
    # b inherited a's configs; tags are not configs, so only a matches.
    assert [_props(e)["sys/custom_run_id"].value for e in found.entries] == ["a"]
    assert _props(found.entries[0])["params/lr"].value == 0.01
    by_lr = _search(
        client,
        team_auth,
        {
            "sorting": {"dir": "ascending", "sortBy": {"name": "params/lr", "type": "float"}},
            "pagination": {"limit": 2, "offset": 0},
        },
    )
    assert by_lr.matching_item_count == 3
    assert [_props(e)["sys/custom_run_id"].value for e in by_lr.entries] == ["a", "b"]
    loss_props = _props(by_lr.entries[1])["train/loss"]
    assert loss_props.last == -float(FORK_STEP + B_POINTS) and loss_props.min == loss_props.last
    bad = client.post(SEARCH, json={"query": {"query": "`x` == "}}, headers=team_auth)
    assert bad.status_code == 400 and "query" in bad.json()["message"]


def test_definitions_include_inherited_series_and_page(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str]
) -> None:
    url = f"{LB}/leaderboard/attributes/definitions/query"
    body: dict[str, Any] = {
        "projectIdentifiers": [PROJECT],
        "experimentIdsFilter": [f"{PROJECT}/{ids['b']}"],
        "attributeNameFilter": {
            "mustMatchAny": [{"mustMatchRegexes": ["^(notes|train|weights)/"]}]
        },
        "nextPage": {"limit": 2},
    }
    names, pages = [], 0
    while True:
        answer = client.post(url, json=body, headers=team_auth).json()
        pages += 1
        names += [(e["name"], e["type"]) for e in answer["entries"]]
        token = answer["nextPage"].get("nextPageToken")
        if not token:
            break
        body["nextPage"]["nextPageToken"] = token
    assert names == [
        ("notes/text", "stringSeries"),
        ("train/loss", "floatSeries"),
        ("weights/hist", "histogramSeries"),
    ]
    assert pages == 2
    body = {"projectIdentifiers": [PROJECT], "attributeFilter": [{"attributeType": "float"}]}
    answer = client.post(url, json=body, headers=team_auth).json()
    assert {e["name"] for e in answer["entries"]} == {"params/lr", "sys/running_time_seconds"}
    assert answer["nextPage"] == {"limit": 10_000}


def test_attribute_values_are_typed(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str]
) -> None:
    body = {
        "experimentIdsFilter": [f"{PROJECT}/{ids['a']}"],
        "attributeNamesFilter": ["params/batch", "params/ok", "sys/tags", "sys/creation_time"],
    }
    answer = client.post(
        f"{LB}/proto/leaderboard/attributes/query?projectIdentifier={PROJECT}",
        json=body,
        headers=team_auth,
    )
    assert answer.status_code == 200, answer.text
    result = at.ProtoQueryAttributesResultDTO.FromString(answer.content)
    (entry,) = result.entries
    assert entry.experimentShortId == ids["a"] and not result.nextPage.HasField("nextPageToken")
    props = _props(entry)
    assert props["params/batch"].value == 64 and props["params/ok"].value is True
    assert sorted(props["sys/tags"].value) == ["baseline", "x"]
    assert props["sys/creation_time"].value == 1_700_000_000_000


def test_fork_step_is_an_int_as_protocol_5_3_gives(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str]
) -> None:
    url = f"{LB}/leaderboard/attributes/definitions/query"
    body = {"projectIdentifiers": [PROJECT], "attributeFilter": [{"attributeType": "int"}]}
    answer = client.post(url, json=body, headers=team_auth).json()
    assert {e["name"] for e in answer["entries"]} == {
        "params/batch",
        "sys/forking/depth",
        "sys/forking/step",  # b is a fork
    }
    body = {
        "experimentIdsFilter": [f"{PROJECT}/{ids['b']}"],
        "attributeNamesFilter": ["sys/forking/step"],
    }
    answer = client.post(
        f"{LB}/proto/leaderboard/attributes/query?projectIdentifier={PROJECT}",
        json=body,
        headers=team_auth,
    )
    assert answer.status_code == 200, answer.text
    (entry,) = at.ProtoQueryAttributesResultDTO.FromString(answer.content).entries
    (attribute,) = entry.attributes
    assert (attribute.name, attribute.type) == ("sys/forking/step", "int")
    assert attribute.int_properties.value == FORK_STEP
    query = f'(`sys/forking/step`:int == "{FORK_STEP}")'
    found = _search(client, team_auth, {"query": {"query": query}})
    assert [_props(e)["sys/id"].value for e in found.entries] == [ids["b"]]


def test_string_and_histogram_series_page_with_tokens(
    client: TestClient,
    team_auth: dict[str, str],
    ids: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("despina.api._neptune_query.routes.DEFAULT_SERIES_PAGE_POINTS", 2)
    series = {"holder": {"identifier": f"{PROJECT}/{ids['b']}"}, "attribute": "notes/text"}
    request: dict[str, Any] = {"requestId": "s", "series": series}
    seen: list[tuple[float, str]] = []
    for _ in range(5):
        body = {"requests": [request], "order": "descending"}
        answer = client.post(f"{LB}/proto/attributes/series", json=body, headers=team_auth)
        (item,) = sv.ProtoSeriesValuesResponseDTO.FromString(answer.content).series
        seen += [(p.step, p.object.stringValue) for p in item.seriesValues.values]
        if item.searchAfter.finished:
            break
        request["searchAfter"] = {"finished": False, "token": item.searchAfter.token}
    assert seen == [(3.0, "third"), (2.0, "second"), (1.0, "first")]
    hist = {"requestId": "h", "series": {**series, "attribute": "weights/hist"}}
    body = {"requests": [hist, {"requestId": "none", "series": {**series, "attribute": "no"}}]}
    answer = client.post(f"{LB}/proto/attributes/series", json=body, headers=team_auth)
    (item,) = sv.ProtoSeriesValuesResponseDTO.FromString(answer.content).series
    (point,) = item.seriesValues.values
    assert list(point.object.histogram.edges) == [0.0, 1.0, 2.0]
    assert list(point.object.histogram.values) == [3.0, 4.0] and item.searchAfter.finished


def test_buckets_start_with_the_first_point(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str]
) -> None:
    spec = rq.ProtoGetTimeseriesBucketsRequest()
    spec.expressions.add(
        requestId="e", runId=f"{PROJECT}/{ids['a']}", customYFormula="${train/loss}"
    )
    spec.view.maxBuckets = 6
    spec.view.xAxis.steps.SetInParent()
    answer = client.post(
        f"{LB}/proto/attributes/timeseries/buckets",
        content=spec.SerializeToString(),
        headers={**team_auth, "Content-Type": "application/x-protobuf"},
    )
    assert answer.status_code == 200, answer.text
    (entry,) = sv.ProtoTimeseriesBucketsDTO.FromString(answer.content).entries
    buckets = list(entry.bucket)
    assert (buckets[0].fromX, buckets[0].toX) == (-math.inf, 0.0)
    assert (buckets[0].first.x, buckets[0].finitePointCount) == (0.0, 1)
    width = (LOSS_POINTS - 1) / 5
    assert [(b.fromX, b.toX) for b in buckets[1:]] == [
        (pytest.approx(i * width), pytest.approx((i + 1) * width)) for i in range(5)
    ]
    assert sum(b.finitePointCount for b in buckets) == LOSS_POINTS
    assert buckets[-1].last.x == LOSS_POINTS - 1 and buckets[-1].last.y == loss(LOSS_POINTS - 1)


def test_other_workspace_is_denied_and_bearer_required(
    client: TestClient, make_token: Any, bearer: Any, ids: dict[str, str]
) -> None:
    other = bearer(make_token("elsewhere"))
    answer = client.post(SEARCH, json={}, headers=other)
    assert answer.status_code == 403 and answer.json()["errorType"] == "ACCESS_DENIED"
    series = {"holder": {"identifier": f"CUSTOM/{PROJECT}/a"}, "attribute": "train/loss"}
    answer = client.post(
        f"{LB}/proto/attributes/series/float",
        json={"requests": [{"requestId": "0", "series": series}]},
        headers=other,
    )
    assert answer.status_code == 403
    assert client.post(SEARCH, json={}).status_code == 401
    missing = f"{LB}/proto/leaderboard/entries/search/?projectIdentifier=team/missing"
    team = bearer(make_token("team"))
    assert client.post(missing, json={}, headers=team).status_code == 404


def test_global_search_spans_only_the_granted_projects(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str], ctx: ServerContext
) -> None:
    from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2

    foreign = ingest_pb2.RunOperation(project="elsewhere/p", run_id="hidden")
    foreign.create.family = "hidden"
    assert ctx.store.apply([foreign]) == [()]
    body = {
        "experimentLeader": False,
        "query": {"query": '(`sys/custom_run_id`:string MATCHES "^[a-z]$")'},
        "sorting": {"dir": "ascending", "sortBy": {"name": "sys/creation_time"}},
    }
    answer = client.post(
        f"{LB}/proto/leaderboard/entries/global/search/", json=body, headers=team_auth
    )
    assert answer.status_code == 200, answer.text
    result = le.ProtoLeaderboardEntriesSearchResultDTO.FromString(answer.content)
    got = [
        (f"{e.organization_name}/{e.project_name}", _props(e)["sys/custom_run_id"].value)
        for e in result.entries
    ]
    assert got == [(PROJECT, "a"), (PROJECT, "b"), (PROJECT, "c")]
    assert {a.name for a in result.entries[0].attributes} == {
        "sys/id",
        "sys/name",
        "sys/custom_run_id",
    }


def test_size_limit_pages_every_series_to_its_end(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str]
) -> None:
    """The client's loop: re-ask unfinished series with their tokens until none is left."""
    holder = {"identifier": f"{PROJECT}/{ids['a']}"}
    requests: list[dict[str, Any]] = [
        {"requestId": name, "series": {"holder": holder, "attribute": attribute}}
        for name, attribute in (("text", "notes/text"), ("hist", "weights/hist"))
    ]
    got: dict[str, list[float]] = {"text": [], "hist": []}
    for _ in range(10):
        body = {"requests": requests, "sizeLimitBytes": 1, "order": "ascending"}
        answer = client.post(f"{LB}/proto/attributes/series", json=body, headers=team_auth)
        assert answer.status_code == 200, answer.text
        series = sv.ProtoSeriesValuesResponseDTO.FromString(answer.content).series
        assert sum(len(s.seriesValues.values) for s in series) == 1  # the byte budget
        for s in series:
            got[s.requestId] += [p.step for p in s.seriesValues.values]
        tokens = {s.requestId: s.searchAfter.token for s in series if not s.searchAfter.finished}
        requests = [
            {**r, "searchAfter": {"finished": False, "token": tokens[r["requestId"]]}}
            for r in requests
            if r["requestId"] in tokens
        ]
        if not requests:
            break
    assert got == {"text": [1.0, 2.0, 3.0], "hist": [5.0]}
