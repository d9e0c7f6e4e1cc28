"""Acceptance: the official neptune-query 1.14.1, unchanged, reads what neptune-scale logged.

The official neptune-scale 0.30.0 logs the oracle scenario (a run, then a fork of it at step 500)
to a real ``despina server`` on 127.0.0.1; neptune-query, in its own venv, then reads it back
through the read-side endpoints and the results are compared with what was logged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from despina.api import ServerProcess
from despina.auth import KeyRing, ServerDatabase, encode_api_token
from support.oracle_support import (
    FILE_BYTES,
    SCENARIO,
    LiveServer,
    env_for,
    oracle_venv,
    run_script,
)
from support.postgres_support import postgres_location

pytestmark = [pytest.mark.oracle, pytest.mark.slow]

ORACLE_QUERY = "neptune-query==1.14.1"
PROJECT = "oracle-ws/query"
BUCKETS = 10

READ_SCRIPT = """
import json, os, sys
import numpy as np
import neptune_query as nq
import neptune_query.runs as nq_runs
from neptune_query.filters import Filter

def points(df):
    # MultiIndex (label, step) x metric -> {label: {metric: [[step, value], ...]}}
    out = {}
    for (label, step), row in df.iterrows():
        for metric, value in row.items():
            if value == value:  # not NaN: the attribute has a point at this step
                out.setdefault(str(label), {}).setdefault(str(metric), []).append([step, value])
    return out

def plain(value):
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value if isinstance(value, (int, float, str, bool, type(None))) else repr(value)

out = {}
out["experiments"] = nq.list_experiments()
out["experiments_regex"] = nq.list_experiments(experiments="^exp-")
out["attributes"] = nq.list_attributes(experiments=["exp-a"])
out["run_attributes"] = nq_runs.list_attributes(runs=["run-a"], attributes="^params/")
out["runs_filtered"] = sorted(nq_runs.list_runs(runs=Filter.gt("params/lr", 0.0001)))
out["runs_tagged"] = sorted(nq_runs.list_runs(runs=Filter.contains_all("sys/tags", ["oracle"])))
table = nq.fetch_experiments_table(
    experiments=["exp-a"], attributes=["params/lr", "params/batch", "params/opt", "train/loss"]
)
out["table"] = {str(i): {str(c): plain(v) for c, v in row.items()} for i, row in table.iterrows()}
runs_table = nq_runs.fetch_runs_table(runs=["run-a", "run-b"], attributes="^params/|^sys/tags$")
out["runs_table"] = {
    str(i): {str(c): plain(v) for c, v in row.items()} for i, row in runs_table.iterrows()
}
out["metrics"] = points(nq.fetch_metrics(experiments=["exp-a"], attributes=["train/loss"]))
out["metrics_fast"] = points(
    nq_runs.fetch_metrics(runs=["run-a", "run-b"], attributes=["train/loss", "train/acc"])
)
out["metrics_own"] = points(
    nq_runs.fetch_metrics(runs=["run-b"], attributes=["train/loss"], lineage_to_the_root=False)
)
out["metrics_range_tail"] = points(
    nq_runs.fetch_metrics(
        runs=["run-a"], attributes=["train/loss"], step_range=(100, 200), tail_limit=5
    )
)
series = nq_runs.fetch_series(runs=["run-a"], attributes=["notes/text", "weights/hist"])
out["series"] = {
    str(c): [[step, plain(v) if not hasattr(v, "edges") else
              {"edges": list(v.edges), "values": list(v.values), "type": v.type}]
             for (_, step), v in series[c].dropna().items()]
    for c in series.columns
}
buckets = nq.fetch_metric_buckets(experiments=["exp-a"], y=["train/loss"], limit=%(buckets)d)
out["buckets"] = [
    [b.left, b.right, float(row.iloc[0]), float(row.iloc[1])] for b, row in buckets.iterrows()
]
files_table = nq_runs.fetch_runs_table(runs=["run-a"], attributes=["files/blob"])
downloaded = nq_runs.download_files(files=files_table, destination=sys.argv[0] + ".files")
out["downloaded"] = [str(p) for p in downloaded.to_numpy().ravel() if isinstance(p, str)]
print(json.dumps(out, default=str))
"""


@pytest.fixture(scope="session")
def query_python() -> Path:
    return oracle_venv(ORACLE_QUERY)


def _by_step(pairs: list[list[float]]) -> dict[float, float]:
    return {float(s): float(v) for s, v in pairs}


def _check_metrics(out: dict[str, Any]) -> None:
    # The experiment's head is the fork, which reads run-a's points up to the fork step.
    expected_b = {float(s): 1.0 / (s + 1) for s in range(501)}
    expected_b |= {float(s): -float(s) for s in range(501, 1000)}
    ((label, metrics),) = out["metrics"].items()
    assert label == "exp-a"
    assert _by_step(metrics["train/loss"]) == expected_b
    fast = out["metrics_fast"]
    assert _by_step(fast["run-a"]["train/loss"]) == {float(s): 1.0 / (s + 1) for s in range(1000)}
    assert _by_step(fast["run-b"]["train/loss"]) == expected_b
    assert _by_step(fast["run-b"]["train/acc"]) == {float(s): s / 1000 for s in range(501)}
    own = _by_step(out["metrics_own"]["run-b"]["train/loss"])
    assert own == {float(s): -float(s) for s in range(501, 1000)}
    tail = _by_step(out["metrics_range_tail"]["run-a"]["train/loss"])
    assert tail == {float(s): 1.0 / (s + 1) for s in range(196, 201)}


def _check_tables(out: dict[str, Any]) -> None:
    assert out["experiments"] == ["exp-a"] == out["experiments_regex"]
    assert {"params/lr", "train/loss", "train/acc", "sys/id"} <= set(out["attributes"])
    assert out["run_attributes"] == ["params/batch", "params/lr", "params/ok", "params/opt"]
    # run-b inherits run-a's configs (inherit_configs): both pass the filter.
    assert out["runs_filtered"] == ["run-a", "run-b"]
    assert out["runs_tagged"] == ["run-a"]
    row = out["table"]["exp-a"]
    assert (row["params/lr"], row["params/batch"], row["params/opt"]) == (0.001, 64, "adam")
    assert row["train/loss"] == -999.0  # the head's last point
    a = out["runs_table"]["run-a"]
    assert a["params/ok"] is True and sorted(a["sys/tags"]) == ["baseline", "oracle"]


def _check_series_buckets_files(out: dict[str, Any]) -> None:
    assert out["series"]["notes/text"] == [[1.0, "first"], [2.0, "second"]]
    ((step, hist),) = out["series"]["weights/hist"]
    assert step == 3.0 and hist["edges"] == [0.0, 1.0, 2.0, 3.0] and hist["values"] == [1, 2, 3]
    buckets = out["buckets"]
    assert len(buckets) == BUCKETS
    assert buckets[0][0] == 0.0 and buckets[-1][1] == 999.0
    # First bucket: the first point; the others: the last point in each (the client's contract).
    assert buckets[0][2:] == [0.0, 1.0]
    assert buckets[-1][2:] == [999.0, -999.0]
    (path,) = out["downloaded"]
    assert Path(path).read_bytes() == FILE_BYTES


@pytest.fixture
def postgres_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """A live server on a fresh PostgreSQL schema (the team-server setup)."""
    location = postgres_location()
    monkeypatch.setenv("DESPINA_FILES_DIR", str(tmp_path / "files"))  # inherited by the server
    api_key, _ = KeyRing(ServerDatabase(location)).create_key("oracle-ws")
    with ServerProcess(location, tmp_path / "server.log") as process:
        token = encode_api_token(process.url, api_key)
        yield LiveServer(process.url, token, location, process.log_path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_server(request: pytest.FixtureRequest) -> LiveServer:
    name = "live_server" if request.param == "sqlite" else "postgres_server"
    server: LiveServer = request.getfixturevalue(name)
    return server


def test_neptune_query_reads_what_neptune_scale_logged(
    official_python: Path, query_python: Path, any_server: LiveServer, tmp_path: Path
) -> None:
    env = env_for(any_server, PROJECT)
    logged = run_script(official_python, SCENARIO, tmp_path, env)
    assert logged["a"] and logged["b"]
    reader = tmp_path / "reader"
    reader.mkdir()
    out = run_script(query_python, READ_SCRIPT % {"buckets": BUCKETS}, reader, env)
    _check_tables(out)
    _check_metrics(out)
    _check_series_buckets_files(out)


def test_token_for_another_workspace_cannot_read(
    official_python: Path, query_python: Path, live_server: LiveServer, tmp_path: Path
) -> None:
    run_script(official_python, SCENARIO, tmp_path, env_for(live_server, PROJECT))
    ring = KeyRing(ServerDatabase(live_server.store_location))
    other_key, _ = ring.create_key("other-ws")
    other = encode_api_token(live_server.url, other_key)
    script = """
import json
import neptune_query as nq
try:
    nq.list_experiments()
    print(json.dumps({"error": None}))
except Exception as error:
    print(json.dumps({"error": type(error).__name__}))
"""
    reader = tmp_path / "reader"
    reader.mkdir()
    env = {"NEPTUNE_API_TOKEN": other, "NEPTUNE_PROJECT": PROJECT}
    assert run_script(query_python, script, reader, env) == {"error": "NeptuneProjectInaccessible"}
