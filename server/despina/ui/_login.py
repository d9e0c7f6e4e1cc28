"""The login page, sign-in and log-out of a UI with a `TokenLogin` (``despina server``).

Both POSTs change state, so neither may be triggered from another site: the session cookie is
``SameSite=Lax`` (browsers do not send it on cross-site POSTs), and the request's ``Origin``
(else its ``Referer``) must be this server, as the request or the configured public URL names
it; anything else is refused with 403 before the form is read.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment
from starlette.concurrency import run_in_threadpool

from despina.ui._session import SESSION_COOKIE, TokenLogin

__all__ = ["login_router"]

MAX_FORM_BYTES = 16 * 1024  # an API token is about 200 characters
MAX_NEXT_CHARS = 4096
INVALID_TOKEN = "This API token is invalid or revoked."


def login_router(login: TokenLogin, prefix: str, env: Environment) -> APIRouter:
    router = APIRouter()
    cookie_path = prefix or "/"

    def form(next_url: str, error: str | None = None, status: int = 200) -> HTMLResponse:
        page_data = {"root": prefix, "project": None, "login": True}
        html = env.get_template("login.html").render(
            projects=[], project=None, viewer=None, page_data=page_data, next=next_url, error=error
        )
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    @router.get("/login", include_in_schema=False)
    def login_page(
        next: Annotated[str, Query(max_length=MAX_NEXT_CHARS)] = "",
    ) -> HTMLResponse:
        return form(_local_path(next, prefix))

    @router.post("/login", include_in_schema=False, response_model=None)
    async def sign_in(request: Request) -> HTMLResponse | RedirectResponse:
        _require_same_origin(request, login)
        fields = await _read_form(request)
        next_url = _local_path(fields.get("next", ""), prefix)
        grant = await run_in_threadpool(login.sign_in, fields.get("token", "").strip())
        if grant is None:
            return form(next_url, INVALID_TOKEN, status=401)
        session = await run_in_threadpool(login.session_for, grant)
        answer = RedirectResponse(next_url, status_code=303)
        answer.set_cookie(
            SESSION_COOKIE,
            session,
            max_age=int(login.session_ttl_s),
            path=cookie_path,
            httponly=True,
            samesite="lax",
            secure=login.is_https(str(request.base_url)),
        )
        return answer

    @router.post("/logout", include_in_schema=False)
    def log_out(request: Request) -> RedirectResponse:
        _require_same_origin(request, login)
        answer = RedirectResponse(f"{prefix}/login", status_code=303)
        answer.delete_cookie(
            SESSION_COOKIE,
            path=cookie_path,
            httponly=True,
            samesite="lax",
            secure=login.is_https(str(request.base_url)),
        )
        return answer

    return router


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _require_same_origin(request: Request, login: TokenLogin) -> None:
    """403 unless the browser says the form was sent from a page of this server."""
    allowed = {_origin(str(request.base_url))}
    if login.public_url:
        allowed.add(_origin(login.public_url))
    sent = request.headers.get("origin")
    if sent is None or sent == "null":
        referer = request.headers.get("referer")
        sent = None if referer is None else _origin(referer)
    else:
        sent = _origin(sent)
    if sent is None or sent not in allowed:
        raise HTTPException(403, "cross-site request refused: Origin/Referer is not this server")


async def _read_form(request: Request) -> dict[str, str]:
    """An url-encoded form of at most ``MAX_FORM_BYTES``; the first value of each field."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise HTTPException(413, f"form of {declared} bytes exceeds {MAX_FORM_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, f"form exceeds {MAX_FORM_BYTES} bytes")
    try:
        parsed: dict[str, list[str]] = parse_qs(body.decode(), keep_blank_values=True)
    except UnicodeDecodeError as error:
        raise HTTPException(400, "the form is not UTF-8") from error
    return {name: values[0] for name, values in parsed.items()}


def _local_path(target: Any, prefix: str) -> str:
    """``target`` when it is a path on this server (never another host: no open redirect)."""
    home = f"{prefix}/"
    if not isinstance(target, str) or not target.startswith(home) or len(target) > MAX_NEXT_CHARS:
        return home
    if target.startswith("//") or "\\" in target or any(ord(c) < 0x20 for c in target):
        return home
    return target
