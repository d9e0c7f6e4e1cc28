"""How many read transactions a UI request opens: a chart of several runs reads in one snapshot.

Counted on the real store's engine (``engine.read`` calls) behind the real UI app. Every
``/ui-api`` route first checks the project exists (one read, as ``/ui-api/projects`` makes):
``ACCESS_READS`` is that share.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from despina.store import Store, open_store
from ui_scenario import FORK_STEP, PROJECT, write_runs

LOCAL_UI = "http://127.0.0.1"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder: Path = tmp_path_factory.mktemp("ui-reads")
    with open_store(str(folder / "store")) as opened:
        write_runs(opened)
        yield opened


class Counter:
    def __init__(self, store: Store) -> None:
        self.engine, self.count = store.engine, 0
        self.original = store.engine.read

    def read(self) -> Any:
        self.count += 1
        return self.original()


@pytest.fixture
def reads(store: Store, monkeypatch: pytest.MonkeyPatch) -> Counter:
    counter = Counter(store)
    monkeypatch.setattr(store.engine, "read", counter.read)
    return counter


def _client(store: Store) -> Any:
    from despina.ui import create_app
    from fastapi.testclient import TestClient

    return TestClient(create_app(store), base_url=LOCAL_UI)


def _access_reads(client: Any, reads: Counter) -> int:
    """The reads of the access check alone (the first request also opens the app's reader)."""
    assert client.get("/ui-api/projects").status_code == 200
    reads.count = 0
    assert client.get("/ui-api/projects").status_code == 200
    return reads.count


RUNS = ["base-1", "fork-1", "other-2"]  # a root run, its fork, another root run
METRIC = "train/loss"


@pytest.mark.parametrize("x", ["step", "time"])
def test_a_chart_of_three_runs_is_one_read_transaction(
    store: Store, reads: Counter, x: str
) -> None:
    client = _client(store)
    access = _access_reads(client, reads)
    params = {"project": PROJECT, "run": RUNS, "attribute": METRIC, "x": x}
    reads.count = 0
    cold = client.get("/ui-api/metric", params=params)
    assert cold.status_code == 200
    assert [(s["run"], s["fork_step"]) for s in cold.json()["series"]] == [
        ("base-1", None),
        ("fork-1", FORK_STEP),
        ("other-2", None),
    ]
    assert reads.count == access + 1
    reads.count = 0  # reopened: buckets and fork steps are cached, exact points read again
    assert client.get("/ui-api/metric", params=params).json() == cold.json()
    assert reads.count == access + 1


def test_a_compare_page_is_one_read_transaction(store: Store, reads: Counter) -> None:
    client = _client(store)
    access = _access_reads(client, reads)
    reads.count = 0
    answer = client.get("/ui-api/compare", params={"project": PROJECT, "run": RUNS})
    assert answer.status_code == 200 and answer.json()["runs"] == RUNS
    assert reads.count == access + 1
