"""Server-rendered pages and the UI's static files (no node build step, no CDN).

Pages ask `Access` who is looking: without a session (when the UI has a login) they redirect to
the login page; a project the viewer may not see is a 404 page, as a missing one is. Static
files hold no data and are served to everyone (the login page needs them).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from despina.ui._access import Access, ProjectName, Viewer, missing_project
from despina.ui._compare import MAX_COMPARED_RUNS
from despina.ui._source import NotFound

__all__ = ["STATIC_DIR", "pages_router", "templates"]

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"
# Static URLs carry a hash of the static files, so browsers may cache them for long.
STATIC_MAX_AGE_S = 24 * 3600


def templates(prefix: str) -> Environment:
    """The pages' Jinja environment: ``static(path)`` and ``root`` know the UI's prefix."""
    version = _static_version()
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )
    env.globals["static"] = lambda path: f"{prefix}/ui-static/{path}?v={version}"
    env.globals["root"] = prefix
    return env


def pages_router(access: Access, env: Environment) -> APIRouter:
    router = APIRouter()
    prefix = access.prefix
    _, page_viewer, _ = access.dependencies()
    looker = Depends(page_viewer)  # a default, not Annotated: string annotations cannot name it

    def render(name: str, viewer: Viewer, project: str | None, **data: Any) -> HTMLResponse:
        status = 200
        projects = access.projects(viewer)
        if project is not None and project not in projects:
            name, status, data = "missing.html", 404, {"message": str(missing_project(project))}
            project = None
        elif project is not None and name == "run.html":
            try:  # a missing run is a 404 page naming it, not an empty run page
                access.source.fork_step(project, data["run"])
            except NotFound as error:
                hint = "Choose a run in this project's runs table."
                name, status, data = "missing.html", 404, {"message": str(error), "hint": hint}
        page_data = {"root": prefix, "project": project, "login": access.login is not None}
        html = env.get_template(name).render(
            projects=projects,
            project=project,
            viewer=viewer.label,
            page_data={**page_data, **data},
            **data,
        )
        return HTMLResponse(html, status_code=status)

    @router.get("/", include_in_schema=False)
    def home(viewer: Viewer = looker) -> Any:
        projects = access.projects(viewer)
        if not projects:
            return render("runs.html", viewer, None)
        return RedirectResponse(f"{prefix}/runs?project={quote(projects[0], safe='')}", 307)

    @router.get("/runs", include_in_schema=False)
    def runs(project: ProjectName, viewer: Viewer = looker) -> HTMLResponse:
        return render("runs.html", viewer, project)

    @router.get("/run", include_in_schema=False)
    def run(
        project: ProjectName,
        run: Annotated[str, Query(min_length=1, max_length=1024)],
        viewer: Viewer = looker,
    ) -> HTMLResponse:
        return render("run.html", viewer, project, run=run, run_id=run)

    @router.get("/compare", include_in_schema=False)
    def compare(
        project: ProjectName, run: Annotated[list[str], Query()], viewer: Viewer = looker
    ) -> HTMLResponse:
        if not 1 <= len(run) <= MAX_COMPARED_RUNS:
            raise HTTPException(400, f"run: {len(run)} given, 1 to {MAX_COMPARED_RUNS} allowed")
        return render("compare.html", viewer, project, runs=run)

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
