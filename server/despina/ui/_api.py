"""The UI's JSON endpoints, under ``<prefix>/ui-api/`` (clear of the Neptune ``/api/...`` paths).

Handlers are plain functions: FastAPI runs them in its thread pool, so a slow store read never
blocks the event loop. Bad input answers 400 (or FastAPI's 422) naming the field and the limit;
an unknown project, run or file answers 404. Every route reads through `Access`: without a
session (when the UI has a login) it answers 401, and a project the viewer may not see answers
404 exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import StreamingResponse

from despina.ui._access import Access, Viewer
from despina.ui._charts import (
    MAX_RUNS_PER_CHART,
    MAX_WIDTH_PX,
    MIN_WIDTH_PX,
    ChartRequest,
    ChartTooLarge,
    metric_payload,
    tail_payload,
)
from despina.ui._compare import MAX_COMPARED_RUNS, compare_payload
from despina.ui._filters import FilterError
from despina.ui._runs_table import MAX_COLUMNS, MAX_PAGE_ROWS, RunsQuery, runs_page
from despina.ui._source import MAX_SERIES_PAGE, BadFilePath, NotFound, UiSource

__all__ = ["api_router"]

DEFAULT_PAGE_ROWS = 50
DEFAULT_WIDTH_PX = 800
FILE_CHUNK_BYTES = 1 << 20

RunId = Annotated[str, Query(min_length=1, max_length=1024)]
Attribute = Annotated[str, Query(min_length=1, max_length=1024)]


def api_router(source: UiSource, access: Access) -> APIRouter:
    api_viewer, _, visible_project = access.dependencies()
    # Every route but /projects takes its project through this dependency: it is the access
    # check (401 without a session, 404 for a project outside the viewer's grant).
    visible = Depends(visible_project)
    logged_in = Depends(api_viewer)
    router = APIRouter(prefix="/ui-api")

    @router.get("/projects")
    def projects(viewer: Viewer = logged_in) -> dict[str, Any]:
        return {"projects": access.projects(viewer)}

    _add_table_routes(router, source, visible)
    _add_run_routes(router, source, visible)
    _add_series_routes(router, source, visible)
    return router


def _add_table_routes(router: APIRouter, source: UiSource, visible: Any) -> None:

    @router.get("/attributes")
    def attributes(project: str = visible) -> dict[str, Any]:
        with _errors():
            names = source.attributes(project)
        return {"attributes": [{"name": n, "type": t} for n, t in names]}

    @router.get("/runs")
    def runs(
        *,
        project: str = visible,
        filter: Annotated[str, Query(max_length=4000)] = "",
        column: Annotated[list[str] | None, Query()] = None,
        sort: Annotated[str, Query(max_length=1024)] = "sys/creation_time",
        dir: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_ROWS)] = DEFAULT_PAGE_ROWS,
    ) -> dict[str, Any]:
        columns = [c for c in (column or []) if c]
        if len(columns) > MAX_COLUMNS:
            raise HTTPException(400, f"column: {len(columns)} given, the limit is {MAX_COLUMNS}")
        query = RunsQuery(project, filter, columns, sort, dir == "desc", offset, limit)
        with _errors():
            body = runs_page(source, query)
        return body


def _add_run_routes(router: APIRouter, source: UiSource, visible: Any) -> None:
    @router.get("/run")
    def run(*, project: str = visible, run: RunId) -> dict[str, Any]:
        with _errors():
            body = source.run_details(project, run)
        return body

    @router.get("/compare")
    def compare(*, project: str = visible, run: Annotated[list[str], Query()]) -> dict[str, Any]:
        if not 1 <= len(run) <= MAX_COMPARED_RUNS:
            raise HTTPException(400, f"run: {len(run)} given, 1 to {MAX_COMPARED_RUNS} allowed")
        with _errors():
            body = compare_payload(source, project, run)
        return body

    @router.get("/file")
    def file(
        *, project: str = visible, path: Annotated[str, Query(min_length=1, max_length=4096)]
    ) -> Any:
        with _errors():
            stream, size, mime = source.open_file(project, path)
        name = path.rsplit("/", 1)[-1]
        headers = {"Content-Disposition": f'attachment; filename="{_header_safe(name)}"'}
        if size is not None:
            headers["Content-Length"] = str(size)
        return StreamingResponse(_chunks(stream), media_type=mime, headers=headers)


def _add_series_routes(router: APIRouter, source: UiSource, visible: Any) -> None:
    @router.get("/metric")
    def metric(
        *,
        project: str = visible,
        run: Annotated[list[str], Query()],
        attribute: Attribute,
        x: Annotated[str, Query(pattern="^(step|time)$")] = "step",
        width: Annotated[int, Query(ge=MIN_WIDTH_PX, le=MAX_WIDTH_PX)] = DEFAULT_WIDTH_PX,
        from_: Annotated[float | None, Query(alias="from")] = None,
        to: float | None = None,
    ) -> dict[str, Any]:
        if not 1 <= len(run) <= MAX_RUNS_PER_CHART:
            raise HTTPException(400, f"run: {len(run)} given, 1 to {MAX_RUNS_PER_CHART} allowed")
        if from_ is not None and to is not None and from_ > to:
            raise HTTPException(400, f"from: {from_} is after to: {to}")
        request = ChartRequest(project, run, attribute, x, from_, to, width)
        with _errors():
            body = metric_payload(source, request)
        return body

    @router.get("/metric/tail")
    def metric_tail(
        *, project: str = visible, run: RunId, attribute: Attribute, after: float
    ) -> Any:
        with _errors():
            body = tail_payload(source, project, run, attribute, after)
        return body

    @router.get("/series")
    def series(
        *,
        project: str = visible,
        run: RunId,
        attribute: Attribute,
        after: float | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_SERIES_PAGE)] = 1000,
        tail: bool = False,
    ) -> dict[str, Any]:
        with _errors():
            body = source.series_page(project, run, attribute, after, limit, tail=tail)
        return body


@contextmanager
def _errors() -> Iterator[None]:
    """Maps the read side's failures onto HTTP answers that say what was wrong."""
    try:
        yield
    except (FilterError, ChartTooLarge, BadFilePath) as error:
        raise HTTPException(400, str(error)) from error
    except NotFound as error:
        raise HTTPException(404, str(error)) from error


def _chunks(stream: Any) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(FILE_CHUNK_BYTES):
            yield chunk


def _header_safe(name: str) -> str:
    return "".join(c if c.isprintable() and c not in '"\\' else "_" for c in name)
