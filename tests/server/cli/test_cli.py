"""The ``despina`` command through its installed entry point (subprocesses, a real store)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from despina.query import Reader

pytestmark = pytest.mark.slow  # each command is a new Python process (~1 s of imports)

DEMO_STEPS = 210  # just past the demo's fork step (200), to keep the test fast


def despina(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NEPTUNE_", "DESPINA_"))}
    return subprocess.run(
        ["despina", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**clean, **(env or {})},
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A store filled by ``despina demo``; returns it and the run ids by role."""
    folder = tmp_path_factory.mktemp("cli") / "store"
    result = despina("demo", "--store", str(folder), "--steps", str(DEMO_STEPS))
    assert result.returncode == 0, result.stderr
    assert "despina ls" in result.stdout and "despina ui" in result.stdout
    with Reader(folder) as reader:
        runs = reader.list_runs("despina/demo")
    roles = {run.rsplit("-", 1)[-1]: run for run in runs}
    assert set(roles) == {"baseline", "fast", "finetune"}
    return folder, roles


def test_demo_logged_realistic_runs_with_a_fork(demo: tuple[Path, dict[str, str]]) -> None:
    folder, roles = demo
    with Reader(folder) as reader:
        details = reader.run_details("despina/demo", roles["finetune"])
        metrics = reader.fetch_metrics("despina/demo", [roles["finetune"]], ["train/loss"])
    assert (
        details["lineage"]["parent"] == roles["baseline"] and details["lineage"]["fork_step"] == 200
    )
    assert details["configs"]["params/lr"] == 0.005 and "demo" in details["tags"]
    steps = metrics.loc[roles["finetune"]].index
    assert steps[0] == 0 and steps[-1] == DEMO_STEPS and len(steps) == DEMO_STEPS + 1


def test_ls_table_and_json(demo: tuple[Path, dict[str, str]]) -> None:
    folder, roles = demo
    table = despina("ls", "--store", str(folder), env={"COLUMNS": "250"})
    assert table.returncode == 0, table.stderr
    for run in roles.values():
        assert run in table.stdout
    rows = json.loads(despina("ls", "--store", str(folder), "--json").stdout)
    by_run = {row["run"]: row for row in rows}
    assert set(by_run) == set(roles.values())
    fork = by_run[roles["finetune"]]
    assert fork["sys/forking/parent"] == roles["baseline"] and fork["sys/forking/step"] == 200
    assert isinstance(fork["train/loss"], float) and fork["sys/tags"] == ["demo", "forked"]


def test_store_from_environment(demo: tuple[Path, dict[str, str]]) -> None:
    folder, roles = demo
    result = despina("ls", "--json", env={"NEPTUNE_LOG_DIRECTORY": str(folder)})
    assert {row["run"] for row in json.loads(result.stdout)} == set(roles.values())
    result = despina("ls", "--json", cwd=folder.parent, env={})  # ./.neptune does not exist there
    assert result.returncode == 1 and ".neptune" in result.stderr


def test_show(demo: tuple[Path, dict[str, str]]) -> None:
    folder, roles = demo
    text = despina("show", roles["finetune"], "--store", str(folder), env={"COLUMNS": "200"})
    assert text.returncode == 0, text.stderr
    assert f"{roles['baseline']} at step 200" in text.stdout and "params/lr" in text.stdout
    data = json.loads(despina("show", roles["finetune"], "--store", str(folder), "--json").stdout)
    assert data["lineage"]["ancestors"] == [roles["baseline"]]
    assert data["last_values"]["train/loss"] == pytest.approx(data["series"]["train/loss"]["last"])
    assert data["creation_time"].endswith("+00:00")


def test_export_csv_and_parquet(demo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    folder, roles = demo
    run = roles["finetune"]
    result = despina("export", run, "--store", str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    csv = pd.read_csv(tmp_path / f"{run}.csv", index_col="step")
    assert len(csv) == DEMO_STEPS + 1 and {"train/loss", "train/accuracy", "eval/loss"} <= set(
        csv.columns
    )
    out = tmp_path / "x.parquet"
    result = despina(
        "export", run, "--store", str(folder), "--format", "parquet", "-o", str(out), "--no-lineage"
    )
    assert result.returncode == 0, result.stderr
    parquet = pd.read_parquet(out)
    assert list(parquet.index) == [float(s) for s in range(201, DEMO_STEPS + 1)]
    with Reader(folder) as reader:
        expected = reader.fetch_metrics(
            "despina/demo", [run], ["train/loss"], lineage_to_the_root=False
        )
    assert parquet["train/loss"].tolist() == expected["train/loss"].tolist()


def test_errors_are_one_line_and_modify_nothing(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    folder, _ = demo
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.suffix == ".sqlite3"}
    unknown = despina("show", "no-such-run", "--store", str(folder))
    assert unknown.returncode == 1 and unknown.stderr.strip().count("\n") == 0
    assert "no-such-run" in unknown.stderr and "Traceback" not in unknown.stderr
    missing = despina("ls", "--store", str(tmp_path / "missing"))
    assert missing.returncode == 1 and "no despina store" in missing.stderr
    assert not (tmp_path / "missing").exists()
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "despina.sqlite3").write_bytes(b"garbage" * 50)
    bad = despina("show", "x", "--store", str(corrupt))
    assert bad.returncode == 1 and "not a readable despina store" in bad.stderr
    assert (corrupt / "despina.sqlite3").read_bytes() == b"garbage" * 50
    export = despina("export", "no-such-run", "--store", str(folder), cwd=tmp_path)
    assert export.returncode == 1 and not list(tmp_path.glob("*.csv"))
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.suffix == ".sqlite3"} == before
