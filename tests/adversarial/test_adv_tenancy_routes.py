"""Issue 12.1 over HTTP, on every engine: a token limited to one project walks EVERY route of
``despina server`` (protocol, ingest, files, neptune-query reads, UI pages and ``/ui-api``)
naming another workspace's project or run, and each answers exactly as it does for a missing
one (status, headers, body) and holds none of the victim's data. A run of ours forked from the
victim's run reads exactly like one forked from a missing run."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from despina.api import ServerContext, ServerSettings, create_app
from despina.auth import encode_api_token
from fastapi.testclient import TestClient
from support.adv_tenancy_probes import (
    BASE_URL,
    FRESH_EVERY_TIME,
    PROBES,
    SAME_ORIGIN,
    World,
    ingest_operation,
    seen,
)
from support.adv_tenancy_world import (
    GHOST,
    MISSING,
    OURS,
    SHARED,
    THEIRS,
    VICTIM_ONLY,
    leaks,
    write_tenants,
)


def _routes(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included router
            inner = prefix + getattr(getattr(route, "include_context", None), "prefix", "")
            yield from _routes(route.original_router.routes, inner)
        elif hasattr(route, "routes"):
            yield from _routes(route.routes, prefix)
        else:
            for method in sorted(set(route.methods or ()) - {"HEAD"}):
                yield method, prefix + route.path


@pytest.fixture
def world(store_location: str) -> Iterator[World]:
    settings = ServerSettings(db=store_location, ui=True)
    ctx = ServerContext.open(settings)
    try:
        write_tenants(ctx.store)
        api_key, _ = ctx.keys.create_key("team-a", "alpha")  # a token limited to OURS
        api_token = encode_api_token(BASE_URL, api_key)
        app = create_app(settings, ctx)
        with TestClient(app, base_url=BASE_URL, follow_redirects=False) as client:
            exchanged = client.get(
                "/api/backend/v1/authorization/oauth-token",
                headers={"X-Neptune-Api-Token": api_token},
            )
            auth = {"Authorization": f"Bearer {exchanged.json()['accessToken']}"}
            login = client.post("/login", data={"token": api_token}, headers=SAME_ORIGIN)
            assert login.status_code == 303, login.text
            yield World(client, auth, api_token)
    finally:
        ctx.close()


def test_every_route_has_a_probe(tmp_path: Path) -> None:
    """A route added to the server must get a probe here, so its grant check is walked."""
    app = create_app(ServerSettings(db=str(tmp_path / "store"), ui=True))
    assert set(_routes(app.routes)) == set(PROBES)


def _compare(world: World, named: tuple[str, str], missing: tuple[str, str]) -> None:
    """Every probe naming ``named`` answers as it does naming ``missing``, and leaks nothing."""
    placeholders = ("<project>", "<run>")
    for route, probe in PROBES.items():
        answers = seen(probe(world, *named), dict(zip(named, placeholders, strict=True)))
        expected = seen(probe(world, *missing), dict(zip(missing, placeholders, strict=True)))
        assert answers == expected or route in FRESH_EVERY_TIME, route
        for status, headers, body in answers:
            assert status < 500, (route, body)
            assert leaks(body) == [] and leaks(repr(headers)) == [], (route, body[:300])


def test_another_projects_answer_as_missing_ones(world: World) -> None:
    _compare(world, (THEIRS, SHARED), (MISSING, SHARED))


def test_another_projects_runs_answer_as_missing_ones(world: World) -> None:
    """Runs of the victim named under our own project (which holds no such run)."""
    _compare(world, (OURS, VICTIM_ONLY), (OURS, GHOST))


def _fork(world: World, child: str, parent: tuple[str, str]) -> None:
    from support.adv_tenancy_world import create

    assert ingest_operation(world, create(OURS, child, parent, step=15)).status_code == 200


def test_a_fork_of_a_foreign_run_inherits_nothing(world: World) -> None:
    """The reported attack: fork the victim's run into our project, then read the fork through
    every route. (Two forks differ in ids and times, so answers are checked for the victim's
    data; the fork's own answer is compared with a missing parent's in the walks above.)"""
    _fork(world, "thief-1", (THEIRS, SHARED))
    for route, probe in PROBES.items():
        for answer in probe(world, OURS, "thief-1"):
            assert answer.status_code < 500, (route, answer.text)
            assert leaks(answer.content) == [], (route, answer.content[:300])
    run = world.client.get("/ui-api/run", params={"project": OURS, "run": "thief-1"}).json()
    assert run["configs"] == [] and run["parent"] is None and run["ancestors"] == []
