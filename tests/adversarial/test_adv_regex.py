"""Issue 12 item 2: a user regex cannot freeze the server (or a `despina.query` reader).

``^(a+)+$`` against ``"a" * 29 + "!"`` backtracks ~2^29 times in Python's ``re`` (15+ s, holding
the GIL, so every other request of the process waited). Each route that takes a pattern must
answer it correctly within a generous functional bound while a concurrent simple request keeps
flowing; patterns RE2 cannot run (backreferences, lookaround) or too long ones are 4xx naming the
field, never a 500.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from despina.cli import main as cli_main
from despina.query import Filter, PatternError, Reader
from despina.store import open_store
from neptune_api.proto.neptune_pb.api.v1.model import leaderboard_entries_pb2 as le
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2
from support.adv_live_server import LiveServer, live_server

pytestmark = pytest.mark.slow

EVIL_TEXT = "a" * 29 + "!"
EVIL = "^(a+)+$"  # no match: the text ends with "!"
GOOD = "^a+!$"  # the control: matches
PROJECT = "team/regex"
LB = "/api/leaderboard/v1"
PROMPT_S = 2.0  # functional bound: the evil query took 15+ s before RE2
STALL_S = 1.0  # a trivial request must never wait this long behind it
TIMEOUT_S = 60.0


def _operations() -> list[Any]:
    """Run EVIL_TEXT (experiment EVIL_TEXT, a config named EVIL_TEXT) and a plain run."""
    ops = []
    for run_id in (EVIL_TEXT, "plain"):
        op = ingest_pb2.RunOperation(project=PROJECT, run_id=run_id)
        op.create.family = run_id
        op.create.experiment_id = run_id
        op.create.creation_time.seconds = 1_700_000_000
        update = ingest_pb2.RunOperation(project=PROJECT, run_id=run_id)
        snap = update.update_batch.snapshots.add()
        snap.timestamp.seconds = 1_700_000_001
        snap.assign[run_id].string = run_id
        snap.assign["params/lr"].float64 = 0.1
        ops += [op, update]
    return ops


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("regex")
    with live_server(str(tmp / "store"), tmp, _operations()) as live:
        yield live


@pytest.fixture(scope="module")
def ui(server: LiveServer) -> Iterator[httpx.Client]:
    """A client holding a UI session cookie (signed in with the API token)."""
    with httpx.Client(base_url=server.url, timeout=TIMEOUT_S) as client:
        answer = client.post(
            "/login", data={"token": server.api_token}, headers={"Origin": server.url}
        )
        assert answer.status_code == 303, answer.text
        yield client


def _nql(server: LiveServer, pattern: str) -> tuple[int, Any]:
    body = {"query": {"query": f'(`sys/name`:string MATCHES "{pattern}")'}}
    answer = httpx.post(
        f"{server.url}{LB}/proto/leaderboard/entries/search/",
        params={"projectIdentifier": PROJECT, "type": "run"},
        json=body,
        headers=server.auth,
        timeout=TIMEOUT_S,
    )
    if answer.status_code != 200:
        return answer.status_code, answer.text
    found = le.ProtoLeaderboardEntriesSearchResultDTO.FromString(answer.content)
    return 200, len(found.entries)


def _definitions(server: LiveServer, body: dict[str, Any]) -> tuple[int, Any]:
    answer = httpx.post(
        f"{server.url}{LB}/leaderboard/attributes/definitions/query",
        json={"projectIdentifiers": [PROJECT], **body},
        headers=server.auth,
        timeout=TIMEOUT_S,
    )
    if answer.status_code != 200:
        return answer.status_code, answer.text
    return 200, sum(e["name"] == EVIL_TEXT for e in answer.json()["entries"])


def _ui_runs(ui: httpx.Client, text: str) -> tuple[int, Any]:
    answer = ui.get("/ui-api/runs", params={"project": PROJECT, "filter": text})
    if answer.status_code != 200:
        return answer.status_code, answer.text
    return 200, len(answer.json()["rows"])


ROUTES: dict[str, Callable[[LiveServer, httpx.Client, str], tuple[int, Any]]] = {
    "nql MATCHES": lambda s, u, p: _nql(s, p),
    "attributeNameRegex": lambda s, u, p: _definitions(s, {"attributeNameRegex": p}),
    "attributeNameFilter": lambda s, u, p: _definitions(
        s, {"attributeNameFilter": {"mustMatchRegexes": [p]}}
    ),
    "ui ~": lambda s, u, p: _ui_runs(u, f"sys/name ~ {p}"),
    "ui name:": lambda s, u, p: _ui_runs(u, f"name:{p}"),
}


def _while_pinging(server: LiveServer, work: Callable[[], Any]) -> tuple[Any, float, float]:
    """(work's result, its duration, the longest a trivial request took meanwhile)."""
    box: dict[str, Any] = {}

    def run() -> None:
        started = time.monotonic()
        box["result"] = work()
        box["elapsed"] = time.monotonic() - started

    worker = threading.Thread(target=run)
    worker.start()
    slowest = 0.0
    with httpx.Client(timeout=TIMEOUT_S) as pinger:
        while worker.is_alive():
            started = time.monotonic()
            pinger.get(f"{server.url}/api/backend/v1/clients/config")
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.02)
    worker.join()
    return box["result"], box["elapsed"], slowest


@pytest.mark.parametrize("route", list(ROUTES))
def test_an_evil_pattern_is_answered_promptly_and_stalls_nothing(
    server: LiveServer, ui: httpx.Client, route: str
) -> None:
    ask = ROUTES[route]
    assert ask(server, ui, GOOD) == (200, 1)  # the route really matches the run
    result, elapsed, slowest = _while_pinging(server, lambda: ask(server, ui, EVIL))
    assert result == (200, 0)
    assert elapsed < PROMPT_S, f"{route}: the evil pattern took {elapsed:.1f} s"
    assert slowest < STALL_S, f"{route}: a concurrent request waited {slowest:.1f} s"


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        (r"(a)\\1", "backreferences"),  # JSON/NQL-escaped: the pattern is (a)\1
        ("a(?=b)", "lookahead"),
        ("(", "invalid regular expression"),
        ("a" * 5000, "the limit is 4096"),  # (the UI's whole filter is limited to 4000)
    ],
    ids=["backreference", "lookahead", "invalid", "too long"],
)
def test_refused_patterns_are_400s_naming_the_field(
    server: LiveServer, ui: httpx.Client, route: str, pattern: str, says: str
) -> None:
    if not route.startswith("nql"):
        pattern = pattern.replace("\\\\", "\\")  # only NQL strings are backslash-escaped
    status, text = ROUTES[route](server, ui, pattern)
    assert status in (400, 422), (status, text)
    if route.startswith("ui") and len(pattern) > 4000:
        assert "filter: String should have at most 4000 characters" in text
        return
    assert says in text
    field = {"nql": "sys/name", "attributeNameRegex": "attributeNameRegex"}.get(
        route.split()[0], "mustMatchRegexes" if "Filter" in route else "filter"
    )
    assert field in text, text


def test_python_spellings_are_translated(server: LiveServer, ui: httpx.Client) -> None:
    # \Z (Python's end of text) and \u escapes are RE2's \z and \x{...}
    assert _ui_runs(ui, r"sys/name ~ a!\Z") == (200, 1)
    assert _ui_runs(ui, r"sys/name ~ ^\u0061+!$") == (200, 1)


def test_despina_query_regex_arguments_are_bounded(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    store.apply(_operations())
    store.close()
    with Reader(str(tmp_path / "store")) as reader:
        calls: dict[str, Callable[[str], Any]] = {
            "runs": lambda p: reader.list_runs(PROJECT, runs=p),
            "experiments": lambda p: reader.list_experiments(PROJECT, p),
            "attributes": lambda p: reader.list_attributes(PROJECT, attributes=p),
            "table columns": lambda p: list(reader.fetch_runs_table(PROJECT, attributes=p)),
            "Filter.name": lambda p: reader.list_runs(PROJECT, runs=Filter.name(p)),
        }
        for name, call in calls.items():
            assert call(GOOD) == [EVIL_TEXT], name
            started = time.monotonic()
            assert call(EVIL) == [], name
            assert time.monotonic() - started < PROMPT_S, name
            with pytest.raises(PatternError, match="backreferences"):
                call(r"(a)\1")


@pytest.mark.parametrize(
    ("command", "option"),
    [(["ls", "--columns"], "--columns"), (["export", "x", "--attributes"], "--attributes")],
)
def test_cli_regex_options_refuse_what_re2_cannot_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], option: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main([*command, r"(a)\1", "--store", str(tmp_path / "none")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and "backreferences" in err
