"""One probe per route of ``despina server`` (protocol, files, neptune-query reads, UI pages and
``/ui-api``): each names a project and a run the way its route takes them, and returns every
answer it got. The route walk calls each probe with a foreign and a missing name and compares.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from neptune_api.proto.neptune_pb.api.v1.model import requests_pb2 as rq
from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2 as common
from neptune_api.proto.neptune_pb.ingest.v1.pub import client_pb2
from neptune_api.proto.neptune_pb.ingest.v1.pub.ingest_pb2 import RunOperation

from support.adv_tenancy_world import FILE_PATH, LOG, METRIC, OURS, SHARED

LB = "/api/leaderboard/v1"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
BASE_URL = "http://testserver"
SAME_ORIGIN = {"Origin": BASE_URL}
_children = itertools.count(1000)


@dataclass
class World:
    client: Any  # a TestClient logged in to the UI with the attacker's token
    auth: dict[str, str]  # Bearer headers of the attacker's token (limited to OURS)
    api_token: str


Probe = Callable[[World, str, str], list[Any]]


def custom(project: str, run: str) -> str:
    return f"CUSTOM/{project}/{run}"


def ingest_operation(w: World, operation: RunOperation) -> Any:
    body = operation.SerializeToString()
    return w.client.post("/api/client/v1/ingest", content=body, headers=w.auth | PROTOBUF)


def _details(w: World, project: str, request_id: str) -> Any:
    query = client_pb2.BulkCheckDetail()
    query.ids.add(value=request_id)
    url = f"/api/client/v1/ingest/checkDetails?projectIdentifier={quote(project, safe='')}"
    return w.client.post(url, content=query.SerializeToString(), headers=w.auth | PROTOBUF)


def ingest(w: World, p: str, r: str) -> list[Any]:
    """An update of run r of p, and a run of ours forked from it, with its stored issues."""
    point = common.UpdateRunSnapshot(step=common.Step(whole=99))
    point.append[METRIC].float64 = 1.0
    update = RunOperation(
        project=p, run_id=r, update_batch=common.UpdateRunSnapshots(snapshots=[point])
    )
    child = common.Run(family="c")
    child.fork_point.CopyFrom(
        common.ForkPoint(parent_project=p, parent_run_id=r, step=common.Step(whole=5))
    )
    fork = ingest_operation(
        w, RunOperation(project=OURS, run_id=f"child-{next(_children)}", create=child)
    )
    answers = [ingest_operation(w, update), fork]
    request_id = client_pb2.SubmitResponse.FromString(fork.content).request_id
    return [*answers, _details(w, OURS, request_id)]


def check(w: World, p: str, r: str) -> list[Any]:
    ids = client_pb2.RequestIdList()
    ids.ids.add(value="0" * 32)
    url = f"/api/client/v1/ingest/check?projectIdentifier={quote(p, safe='')}"
    return [w.client.post(url, content=ids.SerializeToString(), headers=w.auth | PROTOBUF)]


def check_details(w: World, p: str, r: str) -> list[Any]:
    return [_details(w, p, "0" * 32)]


def signed_url(w: World, p: str, r: str) -> list[Any]:
    files = [{"path": f"{r}/{FILE_PATH}", "project_identifier": p, "permission": "read"}]
    answer = w.client.post("/api/storagebridge/v1/signedUrl", json={"files": files}, headers=w.auth)
    answers = [answer]
    if answer.status_code == 200:
        answers.append(w.client.get(answer.json()["files"][0]["url"]))
    return answers


def storage(method: str) -> Probe:
    def probe(w: World, p: str, r: str) -> list[Any]:
        perm = "w" if method == "PUT" else "r"
        url = f"/storage/{p}/{r}/{FILE_PATH}?perm={perm}&exp=9999999999&sig={'0' * 64}"
        return [w.client.request(method, url, content=b"x")]

    return probe


def project_create(w: World, p: str, r: str) -> list[Any]:
    workspace, name = p.split("/")
    body = {"organizationIdentifier": workspace, "name": name}
    return [w.client.post("/api/backend/v1/projects", json=body, headers=w.auth)]


def project_get(w: World, p: str, r: str) -> list[Any]:
    url = f"/api/backend/v1/projects/get?projectIdentifier={quote(p, safe='')}"
    return [w.client.get(url, headers=w.auth)]


def _named(r: str) -> dict[str, Any]:
    return {"query": {"query": f'`sys/custom_run_id`:string == "{r}"'}}


def search(slash: str) -> Probe:
    def probe(w: World, p: str, r: str) -> list[Any]:
        url = f"{LB}/proto/leaderboard/entries/search{slash}?projectIdentifier={quote(p)}&type=run"
        return [w.client.post(url, json=_named(r), headers=w.auth)]

    return probe


def global_search(slash: str) -> Probe:
    def probe(w: World, p: str, r: str) -> list[Any]:
        url = f"{LB}/proto/leaderboard/entries/global/search{slash}"
        return [w.client.post(url, json=_named(r), headers=w.auth)]

    return probe


def definitions(w: World, p: str, r: str) -> list[Any]:
    url = f"{LB}/leaderboard/attributes/definitions/query"
    answers = []
    for projects, ids in (
        ([OURS, p], None),
        ([OURS, p], [custom(p, r)]),
        ([OURS], [custom(p, r)]),  # our project, a run of the named one
    ):
        body = {"projectIdentifiers": list(dict.fromkeys(projects)), "experimentIdsFilter": ids}
        answers.append(w.client.post(url, json=body, headers=w.auth))
    return answers


def attribute_values(w: World, p: str, r: str) -> list[Any]:
    body = {"experimentIdsFilter": [custom(p, r)]}
    return [
        w.client.post(
            f"{LB}/proto/leaderboard/attributes/query?projectIdentifier={quote(project, safe='')}",
            json=body,
            headers=w.auth,
        )
        for project in (p, OURS)  # the named project, and ours naming the run of p
    ]


def _series_requests(p: str, r: str, attribute: str) -> list[dict[str, Any]]:
    return [
        {
            "requestId": name,
            "series": {"holder": {"identifier": custom(*ref)}, "attribute": attribute},
        }
        for name, ref in (("ours", (OURS, SHARED)), ("named", (p, r)))
    ]


def float_series(w: World, p: str, r: str) -> list[Any]:
    body = {"requests": _series_requests(p, r, METRIC)}
    return [w.client.post(f"{LB}/proto/attributes/series/float", json=body, headers=w.auth)]


def generic_series(w: World, p: str, r: str) -> list[Any]:
    body = {"requests": _series_requests(p, r, LOG)}
    return [w.client.post(f"{LB}/proto/attributes/series", json=body, headers=w.auth)]


def buckets(w: World, p: str, r: str) -> list[Any]:
    spec = rq.ProtoGetTimeseriesBucketsRequest()
    for name, ref in (("ours", (OURS, SHARED)), ("named", (p, r))):
        spec.expressions.add(requestId=name, runId=custom(*ref), customYFormula="${" + METRIC + "}")
    spec.view.maxBuckets = 5
    spec.view.xAxis.steps.SetInParent()
    url = f"{LB}/proto/attributes/timeseries/buckets"
    return [w.client.post(url, content=spec.SerializeToString(), headers=w.auth | PROTOBUF)]


def get(route: str, **params: Callable[[str, str], Any]) -> Probe:
    """A GET of ``route`` with query parameters made from (p, r)."""

    def probe(w: World, p: str, r: str) -> list[Any]:
        query = {name: make(p, r) for name, make in params.items()}
        return [w.client.get(route, params=query, headers=w.auth)]

    return probe


def run_link(w: World, p: str, r: str) -> list[Any]:
    link = w.client.get(f"/{p}/-/run", params={"customId": r})
    return [link, w.client.get(link.headers["location"])]


def log_in(w: World, p: str, r: str) -> list[Any]:
    form = {"token": w.api_token, "next": f"/runs?project={p}"}
    return [w.client.get("/login"), w.client.post("/login", data=form, headers=SAME_ORIGIN)]


def log_out(w: World, p: str, r: str) -> list[Any]:
    out = w.client.post("/logout", headers=SAME_ORIGIN)
    again = w.client.post("/login", data={"token": w.api_token}, headers=SAME_ORIGIN)
    return [out, again]


def names_nothing(method: str, path: str, **options: Any) -> Probe:
    return lambda w, p, r: [w.client.request(method, path, headers=w.auth, **options)]


CONFIG_COLUMNS = ["params/api_secret", "train/loss"]
_P = lambda p, r: p  # noqa: E731
_R = lambda p, r: r  # noqa: E731
_RUNS = lambda p, r: [SHARED, r]  # noqa: E731  (several runs: one of ours, one named)

PROBES: dict[tuple[str, str], Probe] = {
    ("GET", "/openapi.json"): names_nothing("GET", "/openapi.json"),
    ("GET", "/api/backend/v1/clients/config"): names_nothing(
        "GET", "/api/backend/v1/clients/config"
    ),
    # the operator's probes: no login, no project, the same answer for everyone
    ("GET", "/healthz"): names_nothing("GET", "/healthz"),
    ("GET", "/readyz"): names_nothing("GET", "/readyz"),
    ("GET", "/auth/realms/{realm}/.well-known/openid-configuration"): names_nothing(
        "GET", "/auth/realms/despina/.well-known/openid-configuration"
    ),
    ("GET", "/api/backend/v1/authorization/oauth-token"): lambda w, p, r: [
        w.client.get(
            "/api/backend/v1/authorization/oauth-token",
            headers={"X-Neptune-Api-Token": w.api_token},
        )
    ],
    ("POST", "/auth/realms/{realm}/protocol/openid-connect/token"): names_nothing(
        "POST",
        "/auth/realms/despina/protocol/openid-connect/token",
        content=b"grant_type=refresh_token&refresh_token=bogus",
    ),
    ("POST", "/api/client/v1/ingest"): ingest,
    ("POST", "/api/client/v1/ingest/check"): check,
    ("POST", "/api/client/v1/ingest/checkDetails"): check_details,
    ("POST", "/api/storagebridge/v1/signedUrl"): signed_url,
    ("PUT", "/storage/{workspace}/{project}/{destination:path}"): storage("PUT"),
    ("GET", "/storage/{workspace}/{project}/{destination:path}"): storage("GET"),
    ("POST", "/api/backend/v1/projects"): project_create,
    ("GET", "/api/backend/v1/projects"): names_nothing("GET", "/api/backend/v1/projects"),
    ("GET", "/api/backend/v1/projects/get"): project_get,
    ("POST", f"{LB}/proto/leaderboard/entries/search"): search(""),
    ("POST", f"{LB}/proto/leaderboard/entries/search/"): search("/"),
    ("POST", f"{LB}/proto/leaderboard/entries/global/search"): global_search(""),
    ("POST", f"{LB}/proto/leaderboard/entries/global/search/"): global_search("/"),
    ("POST", f"{LB}/leaderboard/attributes/definitions/query"): definitions,
    ("POST", f"{LB}/proto/leaderboard/attributes/query"): attribute_values,
    ("POST", f"{LB}/proto/attributes/series/float"): float_series,
    ("POST", f"{LB}/proto/attributes/series"): generic_series,
    ("POST", f"{LB}/proto/attributes/timeseries/buckets"): buckets,
    ("GET", "/login"): log_in,
    ("POST", "/login"): log_in,
    ("POST", "/logout"): log_out,
    ("GET", "/"): names_nothing("GET", "/"),
    ("GET", "/runs"): get("/runs", project=_P),
    ("GET", "/run"): get("/run", project=_P, run=_R),
    ("GET", "/compare"): get("/compare", project=_P, run=_RUNS),
    ("GET", "/{workspace}/{name}/-/run"): run_link,
    ("GET", "/{workspace}/{name}/-/run/"): lambda w, p, r: [
        w.client.get(f"/{p}/-/run/", params={"customId": r})
    ],
    ("GET", "/favicon.ico"): names_nothing("GET", "/favicon.ico"),
    ("GET", "/ui-static/{path:path}"): names_nothing("GET", "/ui-static/common.js"),
    ("GET", "/ui-api/projects"): names_nothing("GET", "/ui-api/projects"),
    ("GET", "/ui-api/attributes"): get("/ui-api/attributes", project=_P),
    ("GET", "/ui-api/runs"): get(
        "/ui-api/runs",
        project=_P,
        filter=lambda p, r: f"run:{r}",
        column=lambda p, r: CONFIG_COLUMNS,
    ),
    ("GET", "/ui-api/run"): get("/ui-api/run", project=_P, run=_R),
    ("GET", "/ui-api/compare"): get("/ui-api/compare", project=_P, run=_RUNS),
    ("GET", "/ui-api/file"): get("/ui-api/file", project=_P, path=lambda p, r: FILE_PATH),
    ("GET", "/ui-api/metric"): get(
        "/ui-api/metric", project=_P, run=_RUNS, attribute=lambda p, r: METRIC
    ),
    ("GET", "/ui-api/metric/tail"): get(
        "/ui-api/metric/tail",
        project=_P,
        run=_R,
        attribute=lambda p, r: METRIC,
        after=lambda p, r: -1,
    ),
    ("GET", "/ui-api/series"): get(
        "/ui-api/series", project=_P, run=_R, attribute=lambda p, r: LOG
    ),
}
# Routes that name no project and answer with fresh secrets each time: only checked for leaks.
FRESH_EVERY_TIME = {("GET", "/api/backend/v1/authorization/oauth-token")}
_REQUEST_ID = re.compile(rb"\b[0-9a-f]{32}\b")
_SIGNATURE = re.compile(rb"(exp=\d+&sig=)[0-9a-f]+")
_CHILD = re.compile(rb"child-\d{4}")


def seen(answers: list[Any], names: dict[str, str]) -> list[tuple[int, dict[str, str], bytes]]:
    """The answers with the names a probe used (and ids no two requests share) neutralised."""
    out = []
    for answer in answers:
        body = answer.content
        for name, placeholder in names.items():
            for spelling in {name, quote(name, safe=""), quote(name)}:
                body = body.replace(spelling.encode(), placeholder.encode())
        body = _CHILD.sub(
            b"child-####", _SIGNATURE.sub(rb"\1<sig>", _REQUEST_ID.sub(b"<id>", body))
        )
        headers = {k: v for k, v in answer.headers.items() if k not in ("date", "set-cookie")}
        if "location" in headers:
            location = headers["location"]
            for name, placeholder in names.items():
                location = location.replace(quote(name, safe=""), placeholder).replace(
                    name, placeholder
                )
            headers["location"] = location
        out.append((answer.status_code, headers, body))
    return out
