"""The neptune-query read side (protocol §5, checklist R1–R4 and the optional series endpoints).

HTTP glue only: authorize (the same Bearer grants as the write side; a project outside the
grant answers 403 with ``errorType: ACCESS_DENIED``, which neptune-query turns into
``NeptuneProjectInaccessible``), parse the body, run the read in a worker thread over one
consistent snapshot, and answer protobuf (or JSON for definitions). Bad input is a 4xx naming
the field; an unknown project is a 404 with the same ``ACCESS_DENIED`` body, on every endpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf.message import DecodeError
from neptune_api.proto.neptune_pb.api.v1.model import requests_pb2 as rq
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from despina.api._context import ServerContext, bearer_grant, context_of, read_body, reject
from despina.api._neptune_query import read
from despina.api._neptune_query.attrs import RunRef, parse_run_ref, resolve_run
from despina.api._neptune_query.models import (
    DefinitionsRequest,
    FloatSeriesRequest,
    SearchRequest,
    SeriesRequest,
    ValuesRequest,
)
from despina.api._neptune_query.nql import NQLError, Query, parse
from despina.api._neptune_query.series import (
    DEFAULT_SERIES_PAGE_POINTS,
    DEFAULT_SIZE_LIMIT_BYTES,
    BucketSeries,
    PageToken,
    bucket_rows,
    float_answer,
    object_page,
)
from despina.api._neptune_query.wire import encode_float_series_response
from despina.auth import Grant
from despina.query import Snapshot, snapshot
from despina.store import ProjectNotFound, RunRow

__all__ = ["router"]

router = APIRouter()
PROTOBUF = "application/x-protobuf"
LEADERBOARD = "/api/leaderboard/v1"
MAX_BUCKETS = 10_000  # the client asks for at most 1,001
MAX_BUCKET_EXPRESSIONS = 1000
_M = TypeVar("_M", bound=BaseModel)


class _Denied(Exception):
    pass


def _check(grant: Grant, projects: Iterable[str]) -> None:
    for project in projects:
        if not grant.allows(project):
            raise _Denied(
                f"this token is limited to {grant.scope}; project {project!r} is outside it"
            )


def _denied(message: str, status: int = 403) -> JSONResponse:
    body = {"code": status, "message": message, "detail": message, "errorType": "ACCESS_DENIED"}
    return JSONResponse(status_code=status, content=body)


def _model(kind: type[_M], body: bytes) -> _M:
    try:
        return kind.model_validate_json(body or b"{}")
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        reject(422, f"invalid {kind.__name__}: {fields}")


async def _answer(
    request: Request, projects: Callable[[], Iterable[str]], work: Callable[[Snapshot], Any]
) -> Any:
    """Authorize ``projects()`` and run ``work`` in a read transaction in a worker thread."""
    grant = await bearer_grant(request)
    ctx = context_of(request)
    try:
        _check(grant, projects())
    except _Denied as denied:
        return _denied(str(denied))
    except ValueError as error:
        reject(400, str(error))
    try:
        return await run_in_threadpool(_in_snapshot, ctx, work)
    except ProjectNotFound as error:
        # Still a 404, but with the access-denied body: neptune-query then raises
        # NeptuneProjectInaccessible ("no access to the project, or it does not exist"), as
        # against the hosted service, instead of NeptuneUnexpectedResponseError.
        return _denied(str(error), status=404)
    except (NQLError, ValueError) as error:
        reject(400, str(error))


def _in_snapshot(ctx: ServerContext, work: Callable[[Snapshot], Any]) -> Any:
    with snapshot(ctx.store) as snap:
        return work(snap)


def _project_param(request: Request) -> str:
    project = request.query_params.get("projectIdentifier")
    if not project:
        reject(400, "the query parameter projectIdentifier (workspace/project) is required")
    return project


def _search_query(spec: SearchRequest) -> Query | None:
    """The search's parsed NQL filter (None when it has none); a malformed one is a 400."""
    try:
        return parse(spec.query.query) if spec.query is not None else None
    except NQLError as error:
        reject(400, f"query.query: {error}")


def _protobuf(data: Any) -> Response:
    return data if isinstance(data, Response) else Response(content=data, media_type=PROTOBUF)


@router.post(f"{LEADERBOARD}/proto/leaderboard/entries/search/")
@router.post(f"{LEADERBOARD}/proto/leaderboard/entries/search", include_in_schema=False)
async def search_entries(request: Request) -> Response:
    project = _project_param(request)
    body = await read_body(request, context_of(request).settings.max_json_body_bytes)
    spec = _model(SearchRequest, body)
    query = _search_query(spec)
    result = await _answer(
        request, lambda: [project], lambda snap: read.search(snap, project, spec, query)
    )
    return _protobuf(result)


@router.post(f"{LEADERBOARD}/proto/leaderboard/entries/global/search/")
@router.post(f"{LEADERBOARD}/proto/leaderboard/entries/global/search", include_in_schema=False)
async def global_search_entries(request: Request) -> Response:
    """Runs of every project the token reaches (the experimental ``fetch_*_table_global``)."""
    grant = await bearer_grant(request)
    body = await read_body(request, context_of(request).settings.max_json_body_bytes)
    spec = _model(SearchRequest, body)
    query = _search_query(spec)
    result = await _answer(
        request, lambda: [], lambda snap: read.global_search(snap, grant.allows, spec, query)
    )
    return _protobuf(result)


@router.post(f"{LEADERBOARD}/leaderboard/attributes/definitions/query")
async def attribute_definitions(request: Request) -> Any:
    body = await read_body(request, context_of(request).settings.max_json_body_bytes)
    spec = _model(DefinitionsRequest, body)

    def work(snap: Snapshot) -> dict[str, Any]:
        # compiled after the grant check; a bad pattern is a ValueError, so a 400 naming it
        match = read.name_matcher(spec.attributeNameFilter, spec.attributeNameRegex)
        return read.definitions(
            snap,
            spec.projectIdentifiers,
            spec.experimentIdsFilter,
            match,
            spec.attributeFilter,
            spec.nextPage,
        )

    return await _answer(request, lambda: spec.projectIdentifiers, work)


@router.post(f"{LEADERBOARD}/proto/leaderboard/attributes/query")
async def attribute_values(request: Request) -> Response:
    project = _project_param(request)
    body = await read_body(request, context_of(request).settings.max_json_body_bytes)
    spec = _model(ValuesRequest, body)

    def work(snap: Snapshot) -> bytes:
        match = read.name_matcher(spec.attributeNameFilter, None, spec.attributeNamesFilter)
        return read.values(
            snap, project, spec.experimentIdsFilter, match, spec.attributeFilter, spec.nextPage
        )

    return _protobuf(await _answer(request, lambda: [project], work))


class _Runs:
    """Runs named in one request, resolved once (None for unknown runs; an unknown project
    raises ProjectNotFound, answered like one the token does not reach)."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.cache: dict[RunRef, RunRow | None] = {}

    def get(self, ref: RunRef) -> RunRow | None:
        if ref not in self.cache:
            project = read.project_or_404(self.snap, ref.project)
            self.cache[ref] = resolve_run(self.snap, project, ref)
        return self.cache[ref]


def _refs(identifiers: Iterable[str]) -> list[RunRef]:
    return [parse_run_ref(i) for i in identifiers]


def _range(spec: FloatSeriesRequest | SeriesRequest) -> tuple[float | None, float | None]:
    return (spec.stepRange.from_, spec.stepRange.to) if spec.stepRange else (None, None)


@router.post(f"{LEADERBOARD}/proto/attributes/series/float")
async def float_series(request: Request) -> Response:
    body = await read_body(request, context_of(request).settings.max_json_body_bytes)
    spec = _model(FloatSeriesRequest, body)

    def work(snap: Snapshot) -> bytes:
        runs = _Runs(snap)
        answers = []
        for item in spec.requests:
            series = item.series
            answers.append(
                float_answer(
                    runs.snap,
                    item.requestId,
                    runs.get(parse_run_ref(series.holder.identifier)),
                    series.attribute,
                    lineage=series.lineage != "NONE",
                    previews=bool(series.includePreview),
                    step_range=_range(spec),
                    descending=spec.order == "descending",
                    after=item.afterStep,
                    limit=spec.perSeriesPointsLimit,
                )
            )
        return encode_float_series_response(answers)

    holders = lambda: {r.project for r in _refs(i.series.holder.identifier for i in spec.requests)}  # noqa: E731
    return _protobuf(await _answer(request, holders, work))


@router.post(f"{LEADERBOARD}/proto/attributes/series")
async def generic_series(request: Request) -> Response:
    from neptune_api.proto.neptune_pb.api.v1.model import series_values_pb2 as sv

    body = await read_body(request, context_of(request).settings.max_json_body_bytes)
    spec = _model(SeriesRequest, body)

    budget = spec.sizeLimitBytes or DEFAULT_SIZE_LIMIT_BYTES

    def work(snap: Snapshot) -> bytes:
        runs, out, used = _Runs(snap), sv.ProtoSeriesValuesResponseDTO(), 0
        for item in spec.requests:
            series, lineage = item.series, item.series.lineage != "NONE"
            run = runs.get(parse_run_ref(series.holder.identifier))
            kind = (
                None
                if run is None
                else runs.snap.series_kind(run, series.attribute, lineage=lineage)
            )
            if run is None or kind is None or kind == "floatSeries":
                continue  # the client reads a missing series as "no such series"
            after = item.searchAfter
            if used >= budget:  # no room left: the client asks again from the same place
                token = after.token if after and after.token else ""
                out.series.add(requestId=item.requestId).searchAfter.token = token
                continue
            used += object_page(
                runs.snap,
                out.series.add(requestId=item.requestId),
                run,
                series.attribute,
                kind,
                lineage=lineage,
                previews=bool(series.includePreview),
                step_range=_range(spec),
                descending=spec.order == "descending",
                token=PageToken.decode(after.token) if after and after.token else None,
                total_limit=spec.perSeriesPointsLimit,
                page_points=DEFAULT_SERIES_PAGE_POINTS,
                max_bytes=budget - used,
            )
        data: bytes = out.SerializeToString()
        return data

    holders = lambda: {r.project for r in _refs(i.series.holder.identifier for i in spec.requests)}  # noqa: E731
    return _protobuf(await _answer(request, holders, work))


def _formula_attribute(formula: str) -> str:
    """``${name}`` (with ``\\``, ``$``, ``{``, ``}`` backslash-escaped) -> ``name``."""
    if not (formula.startswith("${") and formula.endswith("}")):
        raise ValueError(f"customYFormula {formula!r} must be '${{attribute}}'")
    inner, out, escaped = formula[2:-1], [], False
    for char in inner:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    return "".join(out)


def _bucket_request(body: bytes) -> rq.ProtoGetTimeseriesBucketsRequest:
    spec = rq.ProtoGetTimeseriesBucketsRequest()
    try:
        spec.ParseFromString(body)
    except DecodeError:
        reject(400, "the request body is not a serialized ProtoGetTimeseriesBucketsRequest")
    if len(spec.expressions) > MAX_BUCKET_EXPRESSIONS:
        reject(422, f"expressions: {len(spec.expressions)}; the limit is {MAX_BUCKET_EXPRESSIONS}")
    if not 1 <= spec.view.maxBuckets <= MAX_BUCKETS:
        reject(422, f"view.maxBuckets must be between 1 and {MAX_BUCKETS}")
    if spec.view.xAxis.WhichOneof("value") not in (None, "steps"):
        reject(422, "view.xAxis: only steps are supported")
    return spec


def _bucket_series(runs: _Runs, expr: Any, lo: float | None, hi: float | None) -> Any:
    run = runs.get(parse_run_ref(expr.runId))
    if run is None:
        return BucketSeries(expr.requestId, np.empty(0), np.empty(0))
    cols = runs.snap.float_points(
        run,
        _formula_attribute(expr.customYFormula),
        lo,
        hi,
        lineage=expr.lineage == rq.FULL,
        previews=expr.includePreview,
        timestamps=False,
    )
    return BucketSeries(expr.requestId, cols.steps, cols.values)


def _optional(message: Any, field: str) -> float | None:
    return getattr(message, field) if message.HasField(field) else None


@router.post(f"{LEADERBOARD}/proto/attributes/timeseries/buckets")
async def timeseries_buckets(request: Request) -> Response:
    body = await read_body(request, context_of(request).settings.max_json_body_bytes)
    spec = _bucket_request(body)
    view = spec.view
    steps = view.pointFilters.stepRange
    lo, hi = _optional(steps, "from"), _optional(steps, "to")

    def work(snap: Snapshot) -> bytes:
        runs = _Runs(snap)
        series = [_bucket_series(runs, e, lo, hi) for e in spec.expressions]
        table = bucket_rows(series, _optional(view, "from"), _optional(view, "to"), view.maxBuckets)
        data: bytes = table.SerializeToString()
        return data

    holders = lambda: {r.project for r in _refs(e.runId for e in spec.expressions)}  # noqa: E731
    return _protobuf(await _answer(request, holders, work))
