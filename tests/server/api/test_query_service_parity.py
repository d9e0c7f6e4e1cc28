"""Answers the official e2e suites expect from the hosted service (issue 22), on both engines.

Each test pins one place where the official neptune-query / neptune-client-scale suites found this
server answering differently, so a regression shows without running those suites
(scripts/official-e2e).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from despina._patterns import MAX_PATTERN_CHARS, PatternError, compile_pattern
from despina.api import ServerContext, ServerSettings
from fastapi.testclient import TestClient
from neptune_api.proto.neptune_pb.api.v1.model import requests_pb2 as rq
from neptune_api.proto.neptune_pb.api.v1.model import series_values_pb2 as sv
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2
from query_data import B_POINTS, FORK_STEP, LOSS_POINTS, PROJECT, operations
from support.postgres_support import postgres_location

LB = "/api/leaderboard/v1"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ServerSettings:
    if request.param == "sqlite":
        return ServerSettings(db=str(tmp_path / "store"))
    monkeypatch.setenv("DESPINA_FILES_DIR", str(tmp_path / "files"))
    return ServerSettings(db=str(postgres_location()))


@pytest.fixture
def ids(ctx: ServerContext) -> dict[str, str]:
    assert all(issues == () for issues in ctx.store.apply(operations()))
    with ctx.store.engine.read() as tx:
        project = tx.project(PROJECT)
        return {r.custom_id: r.short_id for r in tx.runs(project.pk)}


def _buckets(
    client: TestClient, auth: dict[str, str], run: str, count: int, x: tuple[float, float]
) -> list[Any]:
    spec = rq.ProtoGetTimeseriesBucketsRequest()
    spec.expressions.add(requestId="e", runId=f"{PROJECT}/{run}", customYFormula="${train/loss}")
    spec.view.maxBuckets = count
    spec.view.xAxis.steps.SetInParent()
    setattr(spec.view, "from", x[0])
    spec.view.to = x[1]
    answer = client.post(
        f"{LB}/proto/attributes/timeseries/buckets",
        content=spec.SerializeToString(),
        headers={**auth, "Content-Type": "application/x-protobuf"},
    )
    assert answer.status_code == 200, answer.text
    (entry,) = sv.ProtoTimeseriesBucketsDTO.FromString(answer.content).entries
    return list(entry.bucket)


def test_points_outside_the_x_range_go_to_the_open_ended_buckets(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str]
) -> None:
    buckets = _buckets(client, team_auth, ids["a"], 3, (100.0, 200.0))
    got = [(b.index, b.fromX, b.toX, b.finitePointCount) for b in buckets]
    # steps 0..2499: 0..100 in (-inf, 100], 101..150 and 151..200 in the two middle
    # buckets, 201..2499 in (200, +inf)
    assert got == [
        (0, -math.inf, 100.0, 101),
        (1, 100.0, 150.0, 50),
        (2, 150.0, 200.0, 50),
        (3, 200.0, math.inf, LOSS_POINTS - 201),
    ]
    assert (buckets[-1].first.x, buckets[-1].last.x) == (201.0, LOSS_POINTS - 1.0)
    # A one-step range is one bucket [x, +inf) (the service's answer; nothing below x)
    (single,) = _buckets(client, team_auth, ids["a"], 10, (2000.0, 2000.0))
    assert (single.index, single.fromX, single.toX) == (0, 2000.0, math.inf)
    assert (single.finitePointCount, single.first.x) == (LOSS_POINTS - 2000, 2000.0)


def test_a_tail_limit_of_zero_answers_no_points(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str]
) -> None:
    holder = {"identifier": f"{PROJECT}/{ids['a']}"}
    floats = {
        "requests": [{"requestId": "f", "series": {"holder": holder, "attribute": "train/loss"}}],
        "perSeriesPointsLimit": 0,
        "order": "descending",
    }
    answer = client.post(f"{LB}/proto/attributes/series/float", json=floats, headers=team_auth)
    assert answer.status_code == 200, answer.text
    (series,) = sv.ProtoFloatSeriesValuesResponseDTO.FromString(answer.content).series
    assert list(series.series.values) == []
    strings = {
        "requests": [{"requestId": "s", "series": {"holder": holder, "attribute": "notes/text"}}],
        "perSeriesPointsLimit": 0,
        "order": "descending",
    }
    answer = client.post(f"{LB}/proto/attributes/series", json=strings, headers=team_auth)
    assert answer.status_code == 200, answer.text
    (item,) = sv.ProtoSeriesValuesResponseDTO.FromString(answer.content).series
    assert list(item.seriesValues.values) == [] and item.searchAfter.finished


def _definitions(client: TestClient, auth: dict[str, str], body: dict[str, Any]) -> Any:
    return client.post(f"{LB}/leaderboard/attributes/definitions/query", json=body, headers=auth)


def test_definitions_answer_for_the_projects_that_exist(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str]
) -> None:
    body: dict[str, Any] = {
        "projectIdentifiers": [PROJECT, PROJECT, "team/missing"],
        "attributeNameFilter": {"mustMatchAny": [{"mustMatchRegexes": ["^sys/name$"]}]},
        "attributeFilter": [{"attributeType": "string"}],
    }
    answer = _definitions(client, team_auth, body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["entries"] == [{"name": "sys/name", "type": "string"}]
    answer = _definitions(client, team_auth, {**body, "projectIdentifiers": ["team/missing"]})
    assert answer.status_code == 404 and answer.json()["errorType"] == "ACCESS_DENIED"


def test_an_empty_must_match_any_matches_no_name(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str]
) -> None:
    body: dict[str, Any] = {
        "projectIdentifiers": [PROJECT],
        "attributeFilter": [{"attributeType": "datetime"}],
        "attributeNameFilter": {"mustMatchAny": []},
    }
    answer = _definitions(client, team_auth, body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["entries"] == []
    answer = _definitions(client, team_auth, {**body, "attributeNameFilter": {}})
    assert {e["name"] for e in answer.json()["entries"]} >= {"sys/creation_time"}


def _fork_in_another_experiment(ctx: ServerContext) -> None:
    """Run ``d`` (experiment ``third``) forked from ``b`` at step 1,000, one point at 2,000."""
    create = ingest_pb2.RunOperation(project=PROJECT, run_id="d")
    create.create.family = "d"
    create.create.experiment_id = "third"
    create.create.fork_point.parent_project = PROJECT
    create.create.fork_point.parent_run_id = "b"
    create.create.fork_point.step.whole = FORK_STEP
    create.create.creation_time.seconds = 1_700_000_100
    update = ingest_pb2.RunOperation(project=PROJECT, run_id="d")
    snap = update.update_batch.snapshots.add()
    snap.timestamp.seconds = 1_700_000_200
    snap.step.whole = 2000
    snap.append["train/loss"].float64 = 0.5
    assert ctx.store.apply([create, update]) == [(), ()]


def _steps(client: TestClient, auth: dict[str, str], run: str, lineage: str, kind: str) -> Any:
    series = {
        "holder": {"identifier": f"{PROJECT}/{run}"},
        "attribute": "train/loss",
        "lineage": lineage,
        "lineageEntityType": kind,
    }
    body = {"requests": [{"requestId": "r", "series": series}]}
    answer = client.post(f"{LB}/proto/attributes/series/float", json=body, headers=auth)
    assert answer.status_code == 200, answer.text
    (item,) = sv.ProtoFloatSeriesValuesResponseDTO.FromString(answer.content).series
    return [p.step for p in item.series.values]


def test_lineage_none_of_an_experiment_spans_the_runs_of_that_experiment(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str], ctx: ServerContext
) -> None:
    _fork_in_another_experiment(ctx)
    with ctx.store.engine.read() as tx:
        d = next(r.short_id for r in tx.runs(tx.project(PROJECT).pk) if r.custom_id == "d")
    own_b = [float(s) for s in range(FORK_STEP + 1, FORK_STEP + 1 + B_POINTS)]
    a_to_fork = [float(s) for s in range(FORK_STEP + 1)]
    # b continues a in the same experiment: its experiment's own history holds a's points too
    assert _steps(client, team_auth, ids["b"], "NONE", "EXPERIMENT") == a_to_fork + own_b
    assert _steps(client, team_auth, ids["b"], "NONE", "RUN") == own_b
    # d's experiment starts with d: its ancestors of experiment exp are left out
    assert _steps(client, team_auth, d, "NONE", "EXPERIMENT") == [2000.0]
    assert _steps(client, team_auth, d, "FULL", "EXPERIMENT") == [*a_to_fork, 2000.0]


def test_float_series_queries_of_15_mb_are_accepted_and_bounded(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str], settings: ServerSettings
) -> None:
    name = "n" * 1000  # neptune-query's own split test sends 12,000 names of 1,024 characters
    holder = {"identifier": f"{PROJECT}/{ids['a']}"}
    requests = [
        {"requestId": str(i), "series": {"holder": holder, "attribute": f"{name}{i}"}}
        for i in range(12_000)
    ]
    body = {"requests": requests, "perSeriesPointsLimit": 10}
    answer = client.post(f"{LB}/proto/attributes/series/float", json=body, headers=team_auth)
    assert answer.status_code == 200, answer.text
    assert len(answer.request.content) > 12_000_000
    assert len(sv.ProtoFloatSeriesValuesResponseDTO.FromString(answer.content).series) == 12_000
    too_big = b"x" * (settings.max_float_series_body_bytes + 1)
    answer = client.post(
        f"{LB}/proto/attributes/series/float",
        content=too_big,
        headers={**team_auth, "Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    assert str(settings.max_float_series_body_bytes) in answer.text


def test_more_than_2000_string_series_in_one_request_are_refused(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str]
) -> None:
    holder = {"identifier": f"{PROJECT}/{ids['a']}"}

    def ask(count: int) -> Any:
        requests = [
            {"requestId": str(i), "series": {"holder": holder, "attribute": "notes/text"}}
            for i in range(count)
        ]
        return client.post(
            f"{LB}/proto/attributes/series", json={"requests": requests}, headers=team_auth
        )

    assert ask(2000).status_code == 200
    refused = ask(2001)
    # a 4xx, so neptune-query raises at once (it splits its own requests below the limit)
    assert refused.status_code == 422
    assert "requests" in refused.text and "2000" in refused.text


def test_file_series_keep_steps_logged_in_decreasing_order(
    client: TestClient, team_auth: dict[str, str], ctx: ServerContext
) -> None:
    create = ingest_pb2.RunOperation(project=PROJECT, run_id="files")
    create.create.family = "files"
    create.create.experiment_id = "files"
    update = ingest_pb2.RunOperation(project=PROJECT, run_id="files")
    for i, step in enumerate((3, 2, 1, 2)):
        snap = update.update_batch.snapshots.add()
        snap.timestamp.seconds = 1_700_000_000 + i
        snap.step.whole = step
        ref = snap.append["files/series"].file_ref
        ref.path, ref.size_bytes, ref.mime_type = f"dest/{i}.bin", 10 + i, "text/plain"
    assert ctx.store.apply([create, update]) == [(), ()]
    series = {"holder": {"identifier": f"CUSTOM/{PROJECT}/files"}, "attribute": "files/series"}
    body = {"requests": [{"requestId": "f", "series": series}]}
    answer = client.post(f"{LB}/proto/attributes/series", json=body, headers=team_auth)
    assert answer.status_code == 200, answer.text
    (item,) = sv.ProtoSeriesValuesResponseDTO.FromString(answer.content).series
    got = [(p.step, p.object.fileRef.path) for p in item.seriesValues.values]
    # every step kept; step 2 logged again holds the newer file
    assert got == [(1.0, "dest/2.bin"), (2.0, "dest/3.bin"), (3.0, "dest/0.bin")]


def test_a_long_list_of_exact_names_is_matched_as_a_set(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str]
) -> None:
    """neptune-query spells name lists as ^(a|b|…)$ of escaped names, up to 60,000 bytes."""
    wanted = ["params/lr", "params/opt", "sys/name"]
    padding = [f"absent/{i:01000d}" for i in range(20)]  # past the 4,096-character regex limit
    pattern = "^(" + "|".join(re.escape(n) for n in wanted + padding) + ")$"
    assert len(pattern) > MAX_PATTERN_CHARS
    body: dict[str, Any] = {
        "projectIdentifiers": [PROJECT],
        "attributeNameFilter": {"mustMatchAny": [{"mustMatchRegexes": [pattern]}]},
    }
    answer = _definitions(client, team_auth, body)
    assert answer.status_code == 200, answer.text
    assert sorted(e["name"] for e in answer.json()["entries"]) == wanted
    # A long pattern that is neither such a list nor plain alternatives still meets the limit
    costly = pattern[:-2] + "|" + "[a-z]" * 20 + ")$"
    regex = {"mustMatchAny": [{"mustMatchRegexes": [costly]}]}
    answer = _definitions(client, team_auth, {**body, "attributeNameFilter": regex})
    assert answer.status_code == 400, answer.text
    assert str(MAX_PATTERN_CHARS) in answer.text


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        # lists of escaped names: exact names only
        (r"^(a\|b|c\.d|e\\)$", ["a|b", "c.d", "e\\"], ["a", "cxd", "a|bc"]),
        (r"^(x\ y\-z|)$", ["x y-z", ""], ["x y-zz"]),
        # real regexes stay regexes (compiled by RE2 as long alternatives)
        (r"^(a|\d)$", ["a", "5"], ["d", "55"]),
        (r"^(a|b.)$", ["bx"], ["b"]),
        (r"^(a)|(b)$", ["abc", "cb"], ["c"]),
    ],
)
def test_long_name_lists_and_alternatives_match_as_written(
    pattern: str, matches: list[str], misses: list[str]
) -> None:
    padding = "|".join(f"q{n}" for n in range(1000))  # past the regex limit
    padded = pattern[:-2] + "|" + padding + ")$"
    compiled = compile_pattern(padded, "f")
    assert all(compiled.search(n) for n in matches)
    assert not any(compiled.search(n) for n in misses)
    with pytest.raises(PatternError, match=str(MAX_PATTERN_CHARS)):
        compile_pattern(padded[:-2] + "[a-z]" * 20 + ")$", "f")  # too many operators


def test_a_long_list_of_alternatives_is_compiled(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str]
) -> None:
    """neptune-query's split test filters names with ^int-value-0+0(0|1|…|3999)$ (18,906
    characters), which the hosted service accepts; an operator-heavy long pattern is refused."""
    numbers = "|".join(str(n) for n in range(4000))
    wanted = {"mustMatchAny": [{"mustMatchRegexes": [f"^params/(lr|{numbers})$"]}]}
    body: dict[str, Any] = {"projectIdentifiers": [PROJECT], "attributeNameFilter": wanted}
    answer = _definitions(client, team_auth, body)
    assert answer.status_code == 200, answer.text
    assert [e["name"] for e in answer.json()["entries"]] == ["params/lr"]
    costly = {"mustMatchAny": [{"mustMatchRegexes": ["[a-z]{1,3}|" * 500]}]}
    answer = _definitions(client, team_auth, {**body, "attributeNameFilter": costly})
    assert answer.status_code == 400, answer.text
    assert str(MAX_PATTERN_CHARS) in answer.text


def test_committed_float_points_read_complete_without_previews_asked(
    client: TestClient, team_auth: dict[str, str], ids: dict[str, str]
) -> None:
    """neptune-query's split test reads (…, is_preview=False, completion 1.0) with
    include_preview=False: the hosted service sends the ratio either way."""
    series = {"holder": {"identifier": f"{PROJECT}/{ids['a']}"}, "attribute": "train/loss"}
    body = {"requests": [{"requestId": "r", "series": series}], "perSeriesPointsLimit": 3}
    answer = client.post(f"{LB}/proto/attributes/series/float", json=body, headers=team_auth)
    assert answer.status_code == 200, answer.text
    (item,) = sv.ProtoFloatSeriesValuesResponseDTO.FromString(answer.content).series
    got = [(p.is_preview, p.completion_ratio) for p in item.series.values]
    assert got == [(False, 1.0)] * 3
