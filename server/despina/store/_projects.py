"""Projects: create and list them (`despina project`, the server's `/api/backend/v1/projects`).

Projects are also created on first ingest when the token allows it; creating one explicitly
lets an admin hand out tokens that may not create projects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from despina.store._apply import check_project_name
from despina.store._create import project_key

if TYPE_CHECKING:
    from despina.store._store import Store

__all__ = ["ProjectExists", "create_project", "list_projects", "project_of"]


class ProjectExists(ValueError):
    """A project with that name is already there."""


def create_project(store: Store, name: str) -> tuple[str, str]:
    """Create ``workspace/project``; returns (name, key). Raises ValueError / ProjectExists."""
    problem = check_project_name(name)
    if problem is not None:
        raise ValueError(problem)
    with store.engine.write() as tx:
        if tx.project(name) is not None:
            raise ProjectExists(f"project {name} already exists")
        row = tx.insert_project(name, project_key(name))
    return row.name, row.key


def list_projects(store: Store) -> list[tuple[str, str]]:
    """(name, key) of every project, sorted by name."""
    with store.engine.read() as tx:
        return sorted((p.name, p.key) for p in tx.projects())


def project_of(store: Store, name: str) -> tuple[str, str] | None:
    with store.engine.read() as tx:
        row = tx.project(name)
    return None if row is None else (row.name, row.key)
