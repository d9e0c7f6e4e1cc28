"""Project endpoints of the official clients (``neptune_scale.projects``; protocol §2.7)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from despina.api._context import bearer_grant, context_of, reject, require_project
from despina.store import ProjectExists, create_project, list_projects, project_of

__all__ = ["router"]

router = APIRouter()


class NewProject(BaseModel):
    name: str = Field(min_length=1)
    organizationIdentifier: str = Field(min_length=1)
    description: str | None = None
    projectKey: str | None = None
    visibility: str | None = None


def _dto(name: str, key: str) -> dict[str, Any]:
    workspace, _, project = name.partition("/")
    return {
        "id": name,
        "name": project,
        "organizationName": workspace,
        "organizationId": workspace,
        "projectKey": key,
        "version": 3,
    }


@router.post("/api/backend/v1/projects")
async def create(body: NewProject, request: Request) -> dict[str, Any]:
    grant = await bearer_grant(request)
    name = f"{body.organizationIdentifier}/{body.name}"
    require_project(grant, name)
    if not grant.can_create_projects:
        reject(403, "this token may not create projects")
    try:
        created, key = await run_in_threadpool(create_project, context_of(request).store, name)
    except ProjectExists as exc:
        reject(409, str(exc))
    except ValueError as exc:
        reject(400, str(exc))
    return _dto(created, key)


@router.get("/api/backend/v1/projects")
async def listing(request: Request) -> dict[str, Any]:
    grant = await bearer_grant(request)
    rows = await run_in_threadpool(list_projects, context_of(request).store)
    return {"entries": [_dto(n, k) for n, k in rows if grant.allows(n)]}


@router.get("/api/backend/v1/projects/get")
async def get(request: Request, project: str = Query(alias="projectIdentifier")) -> dict[str, Any]:
    require_project(await bearer_grant(request), project)
    row = await run_in_threadpool(project_of, context_of(request).store, project)
    if row is None:
        reject(404, f"project {project} does not exist")
    return _dto(*row)
