"""Which projects the person looking at the UI may see: the one place every page and every
``/ui-api`` route asks.

Two modes, chosen explicitly by whoever builds the router:

* no login (``despina ui``): the UI runs on the user's own machine over their own files, on a
  loopback address, so whoever reaches it may read every project;
* `TokenLogin` (``despina server``): a visitor logs in with an API token and sees exactly the
  projects of its grant. A project outside the grant answers exactly as a missing one (404,
  same message), so nothing tells the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Query, Request

from despina.auth import Grant
from despina.ui._session import SESSION_COOKIE, TokenLogin
from despina.ui._source import NotFound, UiSource

__all__ = ["Access", "ProjectName", "Viewer", "missing_project"]

MAX_PROJECT_CHARS = 512
ProjectName = Annotated[str, Query(min_length=1, max_length=MAX_PROJECT_CHARS)]


@dataclass(frozen=True)
class Viewer:
    """Who is looking: ``grant`` None means the local UI without login (every project)."""

    grant: Grant | None

    def may_see(self, project: str) -> bool:
        return self.grant is None or self.grant.allows(project)

    @property
    def label(self) -> str | None:
        """What the page header shows for a logged-in viewer (the key id and its scope)."""
        if self.grant is None:
            return None
        return f"key {self.grant.key_id} · {self.grant.scope}"


EVERYONE = Viewer(grant=None)


def missing_project(project: str) -> NotFound:
    """What a project the viewer may not see answers: the same as a missing one."""
    return NotFound(f"no project {project!r}")


class Access:
    """Turns a request into a `Viewer` and a viewer into the projects it may see."""

    def __init__(self, source: UiSource, login: TokenLogin | None, prefix: str) -> None:
        self.source = source
        self.login = login
        self.prefix = prefix

    def viewer_of(self, request: Request) -> Viewer | None:
        """The request's viewer; None when a login is needed and there is no live session."""
        if self.login is None:
            return EVERYONE
        cookie = request.cookies.get(SESSION_COOKIE)
        grant = None if not cookie else self.login.grant_of_session(cookie)
        return None if grant is None else Viewer(grant)

    def projects(self, viewer: Viewer) -> list[str]:
        """The existing projects ``viewer`` may see, sorted."""
        return [p for p in self.source.projects() if viewer.may_see(p)]

    def require(self, viewer: Viewer, project: str) -> None:
        """Raises `NotFound` unless ``project`` exists and ``viewer`` may see it.

        One message for both cases (and no list of the store's projects in it).
        """
        if not viewer.may_see(project) or project not in self.source.projects():
            raise missing_project(project)

    def login_url(self, request: Request) -> str:
        """The login page, coming back to the page of ``request`` afterwards."""
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return f"{self.prefix}/login?next={quote(here, safe='')}"

    def dependencies(self) -> tuple[Any, Any, Any]:
        """FastAPI dependencies: (API viewer: 401 without a session, page viewer: redirect to
        the login page, visible project: the ``project`` query parameter, else 404)."""

        def api_viewer(request: Request) -> Viewer:
            viewer = self.viewer_of(request)
            if viewer is None:
                raise HTTPException(401, f"log in first ({self.prefix}/login): no live session")
            return viewer

        def page_viewer(request: Request) -> Viewer:
            viewer = self.viewer_of(request)
            if viewer is None:
                raise HTTPException(303, "log in first", {"Location": self.login_url(request)})
            return viewer

        # A default, not Annotated: the dependency is local, string annotations cannot name it.
        logged_in = Depends(api_viewer)

        def visible_project(
            project: ProjectName,
            viewer: Viewer = logged_in,
        ) -> str:
            try:
                self.require(viewer, project)
            except NotFound as error:
                raise HTTPException(404, str(error)) from error
            return project

        return api_viewer, page_viewer, visible_project
