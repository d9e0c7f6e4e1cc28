"""Issue 14: answers neptune-query 1.14.1 gets as from the hosted service (its own venv).

The official neptune-scale 0.30.0 logs two runs to a live ``despina server``; each test reads
them with the real neptune-query and checks one answer the hosted service gives.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from support.oracle_support import LiveServer, env_for, oracle_venv, run_script

pytestmark = [pytest.mark.oracle, pytest.mark.slow]

PROJECT = "oracle-ws/fidelity"

LOG_SCRIPT = """
import datetime as dt
import json
from neptune_scale import Run
from neptune_scale.types import Histogram

common = dict(enable_console_log_capture=False, source_tracking_config=None)
run = Run(run_id="fid-a", experiment_name="fid-exp", **common)
run.log_configs({"when": dt.datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=dt.timezone.utc)})
for step in range(1, 11):
    run.log_metrics({"m": float(step)}, step=step)
run.log_histograms(
    {"h/c": Histogram(bin_edges=[0, 1, 2], counts=[1, 2]),
     "h/d": Histogram(bin_edges=[0, 1], densities=[0.5])},
    step=1,
)
done_a = run.wait_for_processing(timeout=120)
run.close()
late = Run(run_id="fid-b", experiment_name="fid-late", **common)
for step in (5.5, 7.0, 10.0):
    late.log_metrics({"m": step * 2}, step=step)
done_b = late.wait_for_processing(timeout=120)
late.close()
print(json.dumps({"a": done_a, "b": done_b}))
"""

HEADER = """
import json
import neptune_query as nq
import neptune_query.runs as nq_runs

def column(frame, *parts):
    (found,) = [c for c in frame.columns if set(parts) <= {str(p) for p in c}]
    return frame[found]
"""


@pytest.fixture(scope="module")
def query_python() -> Path:
    return oracle_venv("neptune-query==1.14.1")


@pytest.fixture(scope="module")
def logged(official_python: Path, live_server: LiveServer, tmp_path_factory: Any) -> LiveServer:
    out = run_script(
        official_python, LOG_SCRIPT, tmp_path_factory.mktemp("log"), env_for(live_server, PROJECT)
    )
    assert out["a"] and out["b"]
    return live_server


def _read(python: Path, server: LiveServer, body: str, tmp: Path, project: str = PROJECT) -> Any:
    return run_script(python, HEADER + body, tmp, env_for(server, project))


def test_committed_points_read_preview_completion_one(
    query_python: Path, logged: LiveServer, tmp_path: Path
) -> None:
    body = """
frame = nq_runs.fetch_metrics(runs=["fid-a"], attributes=["m"], include_point_previews=True)
out = {"completion": [float(v) for v in column(frame, "m", "preview_completion")],
       "preview": [bool(v) for v in column(frame, "m", "is_preview")]}
print(json.dumps(out))
"""
    out = _read(query_python, logged, body, tmp_path)
    assert out["preview"] == [False] * 10
    assert out["completion"] == [1.0] * 10


def test_histogram_types_are_the_service_names(
    query_python: Path, logged: LiveServer, tmp_path: Path
) -> None:
    body = """
frame = nq_runs.fetch_series(runs=["fid-a"], attributes=["h/c", "h/d"])
out = {str(c): [[v.type, list(v.edges), list(v.values)] for v in frame[c].dropna()]
       for c in frame.columns}
print(json.dumps(out))
"""
    out = _read(query_python, logged, body, tmp_path)
    assert out == {
        "h/c": [["COUNTING", [0.0, 1.0, 2.0], [1.0, 2.0]]],
        "h/d": [["DENSITY", [0.0, 1.0], [0.5]]],
    }


def test_buckets_show_the_first_point_of_a_series_starting_late(
    query_python: Path, logged: LiveServer, tmp_path: Path
) -> None:
    # Buckets over steps 1..10: (-inf, 1], (1, 4], (4, 7], (7, 10]. fid-late (run fid-b) has no
    # point in the first two; its first row must still be its first point (5.5, 11.0).
    body = """
frame = nq.fetch_metric_buckets(experiments=["fid-exp", "fid-late"], y=["m"], limit=3)
out = {}
for label in ("fid-exp", "fid-late"):
    xs, ys = column(frame, label, "m", "x"), column(frame, label, "m", "y")
    keep = xs.notna()
    out[label] = [[float(x), float(y)] for x, y in zip(xs[keep], ys[keep])]
print(json.dumps(out))
"""
    out = _read(query_python, logged, body, tmp_path)
    assert out["fid-exp"][0] == [1.0, 1.0] and out["fid-exp"][-1] == [10.0, 10.0]
    assert out["fid-late"] == [[5.5, 11.0], [10.0, 20.0]]


def test_diagnostic_uuids_are_listed_and_stable(
    query_python: Path, logged: LiveServer, tmp_path: Path
) -> None:
    body = """
names = nq_runs.list_attributes(runs=["fid-a"], attributes="sys/.*id$")
wanted = ["sys/diagnostics/project_uuid", "sys/diagnostics/run_uuid"]
tables = [nq_runs.fetch_runs_table(runs=["fid-a", "fid-b"], attributes=wanted) for _ in range(2)]
rows = [{str(i): [str(v) for v in row] for i, row in t.iterrows()} for t in tables]
print(json.dumps({"names": names, "rows": rows}))
"""
    out = _read(query_python, logged, body, tmp_path)
    assert {"sys/diagnostics/project_uuid", "sys/diagnostics/run_uuid"} <= set(out["names"])
    first, again = out["rows"]
    assert first == again  # stable
    (project_a, run_a), (project_b, run_b) = first["fid-a"], first["fid-b"]
    assert project_a == project_b and run_a != run_b
    assert all(uuid.UUID(v) for v in (project_a, run_a, run_b))


def test_missing_project_is_inaccessible(
    query_python: Path, logged: LiveServer, tmp_path: Path
) -> None:
    body = """
out = {}
calls = {
    "list_experiments": lambda: nq.list_experiments(),
    "fetch_metrics_fast": lambda: nq_runs.fetch_metrics(runs=["fid-a"], attributes=["m"]),
    "list_attributes": lambda: nq.list_attributes(),
}
for name, call in calls.items():
    try:
        call()
        out[name] = None
    except Exception as error:
        out[name] = type(error).__name__
print(json.dumps(out))
"""
    out = _read(query_python, logged, body, tmp_path, project="oracle-ws/does-not-exist")
    assert set(out.values()) == {"NeptuneProjectInaccessible"}, out


def test_datetimes_read_back_to_the_millisecond_logged(
    query_python: Path, logged: LiveServer, tmp_path: Path
) -> None:
    # The client sends .678 s as 677999973 ns; the nearest millisecond is what was logged.
    body = """
table = nq_runs.fetch_runs_table(runs=["fid-a"], attributes=["when"])
print(json.dumps({"when": table.loc["fid-a"].iloc[0].isoformat()}))
"""
    out = _read(query_python, logged, body, tmp_path)
    assert out["when"] == "2025-01-02T03:04:05.678000+00:00"
