"""Server-rendered pages and the UI's static files (no node build step, no CDN)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from despina.ui._compare import MAX_COMPARED_RUNS
from despina.ui._source import UiSource

__all__ = ["STATIC_DIR", "pages_router"]

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"
# Static URLs carry a hash of the static files, so browsers may cache them for long.
STATIC_MAX_AGE_S = 24 * 3600


def pages_router(source: UiSource, prefix: str) -> APIRouter:
    router = APIRouter()
    version = _static_version()
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )
    env.globals["static"] = lambda path: f"{prefix}/ui-static/{path}?v={version}"
    env.globals["root"] = prefix

    def render(name: str, project: str | None, **data: Any) -> HTMLResponse:
        projects = source.projects()
        page_data = {"root": prefix, "project": project, **data}
        html = env.get_template(name).render(
            projects=projects, project=project, page_data=page_data, **data
        )
        return HTMLResponse(html)

    @router.get("/", include_in_schema=False)
    def home() -> Any:
        projects = source.projects()
        if not projects:
            return render("runs.html", None)
        return RedirectResponse(f"{prefix}/runs?project={quote(projects[0], safe='')}", 307)

    @router.get("/runs", include_in_schema=False)
    def runs(project: Annotated[str, Query(min_length=1, max_length=512)]) -> HTMLResponse:
        return render("runs.html", project)

    @router.get("/run", include_in_schema=False)
    def run(
        project: Annotated[str, Query(min_length=1, max_length=512)],
        run: Annotated[str, Query(min_length=1, max_length=1024)],
    ) -> HTMLResponse:
        return render("run.html", project, run=run, run_id=run)

    @router.get("/compare", include_in_schema=False)
    def compare(
        project: Annotated[str, Query(min_length=1, max_length=512)],
        run: Annotated[list[str], Query()],
    ) -> HTMLResponse:
        if not 1 <= len(run) <= MAX_COMPARED_RUNS:
            raise HTTPException(400, f"run: {len(run)} given, 1 to {MAX_COMPARED_RUNS} allowed")
        return render("compare.html", project, runs=run)

    _add_link_and_asset_routes(router, prefix)
    return router


def _add_link_and_asset_routes(router: APIRouter, prefix: str) -> None:
    # Run links in the Neptune app's form (what ``Run.get_run_url()`` gives for a server).
    @router.get("/{workspace}/{name}/-/run/", include_in_schema=False)
    @router.get("/{workspace}/{name}/-/run", include_in_schema=False)
    def neptune_run_link(
        workspace: str,
        name: str,
        custom_id: Annotated[str, Query(alias="customId", min_length=1, max_length=1024)],
    ) -> RedirectResponse:
        query = urlencode({"project": f"{workspace}/{name}", "run": custom_id})
        return RedirectResponse(f"{prefix}/run?{query}", 307)

    @router.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)  # no icon; answering saves browsers a logged 404

    @router.get("/ui-static/{path:path}", include_in_schema=False)
    def static(path: str) -> FileResponse:
        target = (STATIC_DIR / path).resolve()
        if not target.is_file() or not target.is_relative_to(STATIC_DIR):
            raise HTTPException(404, f"no static file {path!r}")
        return FileResponse(target, headers={"Cache-Control": f"max-age={STATIC_MAX_AGE_S}"})


def _static_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
