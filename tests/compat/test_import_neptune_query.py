"""Acceptance: an export imported into a live ``despina server`` over the wire protocol (with an
API token) reads back through the official neptune-query 1.14.1, unchanged: types, decimal
steps, NaN/±inf, and a fork's full history."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.oracle_support import LiveServer, env_for, oracle_venv, run_script

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server" / "importer"))
from scenario import CHILD_STEPS, GRAND, GRAND_STEPS, P3, ROOT, STEPS, build_v3

TARGET = "oracle-ws/imported"  # the key's workspace; --project-map moves the export there
pytestmark = [pytest.mark.oracle, pytest.mark.slow]
pytest.importorskip("pyarrow")

READ = """
import json, math
import neptune_query.runs as nq_runs

def plain(v):
    if isinstance(v, (set, frozenset)):
        return sorted(v)
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)

wanted = "^params/|^sys/tags$|^import/sys/owner$"
table = nq_runs.fetch_runs_table(runs=["%(root)s"], attributes=wanted)
row = {c: [plain(v), type(v).__name__] for c, v in table.iloc[0].items()}
def pts(df):
    return [[float(step), plain(v)] for (_, step), v in df.iloc[:, 0].items() if v == v or True]
own = nq_runs.fetch_metrics(runs=["%(root)s"], attributes=["train/loss"])
lineage = nq_runs.fetch_metrics(runs=["%(grand)s"], attributes=["train/loss"])
print(json.dumps({"row": row, "own": pts(own), "lineage": pts(lineage)}))
"""


def test_neptune_query_reads_an_import_into_a_server(
    live_server: LiveServer, tmp_path: Path
) -> None:
    export = build_v3(tmp_path / "export")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEPTUNE_", "DESPINA_"))}
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from despina.cli import main; sys.exit(main())",
         "import", str(export.data), "--files", str(export.files), "--no-progress",
         "--api-token", live_server.token, "--project-map", f"{P3}={TARGET}"],
        capture_output=True, text=True, timeout=240, env={**env, "COLUMNS": "300"},
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # the export's interrupted run
    assert "4 imported, 1 interrupted export" in done.stdout, done.stdout
    python = oracle_venv("neptune-query==1.14.1")
    out = run_script(
        python, READ % {"root": ROOT, "grand": GRAND}, tmp_path, env_for(live_server, TARGET)
    )
    row = out["row"]
    assert row["params/big"] == [2**40 + 3, "int64"]  # an int column, not float
    assert row["params/lr"][0] == 0.001 and row["params/opt"][0] == "adam"
    assert row["params/flag"][0] is False
    assert sorted(row["params/labels"][0]) == ["cat", "dog"]
    assert sorted(row["sys/tags"][0]) == ["baseline", "vision"]
    assert row["import/sys/owner"][0] == "alice"
    own = out["own"]
    assert [s for s, _ in own] == [float(s) for s in STEPS]
    assert own[0][1] == 0.25 and own[2][1] == "inf" and own[3][1] == "-inf"
    assert own[1][1] == "nan" or (isinstance(own[1][1], float) and math.isnan(own[1][1]))
    expected = [s for s in STEPS if s <= 2] + CHILD_STEPS + GRAND_STEPS
    assert [s for s, _ in out["lineage"]] == [float(s) for s in expected]
