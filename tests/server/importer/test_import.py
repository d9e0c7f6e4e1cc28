"""``despina import`` of realistic exports into a store, read back with ``despina.query``."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from despina.query import Reader
from scenario import (
    ARTIFACT_JSON,
    CHILD,
    CHILD_STEPS,
    CKPT,
    FILESET,
    GRAND,
    GRAND_STEPS,
    IMAGE,
    ORPHAN,
    P2,
    P3,
    ROOT,
    SAN,
    STEPS,
    at,
    build_v2,
    build_v3,
)  # fmt: skip

pytest.importorskip("pyarrow")
MAIN = "import sys; from despina.cli import main; sys.exit(main())"


def despina_import(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NEPTUNE_", "DESPINA_"))}
    return subprocess.run(
        [sys.executable, "-c", MAIN, "import", *args, "--no-progress"],
        capture_output=True, text=True, timeout=240, env={**clean, "COLUMNS": "400", **(env or {})},
    )  # fmt: skip


@pytest.fixture(scope="module")
def v3(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("v3")
    export = build_v3(root)
    store = root / "store"
    result = despina_import(str(export.data), "--files", str(export.files), "--store", str(store))
    return store, result


def test_v3_summary_names_interrupted_orphan_and_exit_code(
    v3: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    _, result = v3
    out = result.stdout
    assert result.returncode == 1, out + result.stderr  # the interrupted run was not imported
    assert "interrupted export" in out and "no part 0" in out
    assert "gone" in out and "imported as a root" in out
    assert ".tmp leftovers ignored" in out


def test_v3_single_values_keep_their_types(
    v3: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    store, _ = v3
    with Reader(store) as reader:
        details = reader.run_details(P3, ROOT)
        table = reader.fetch_runs_table(P3, [ROOT], attributes=r"^(params|import|sys)/")
    row = table.loc[ROOT]
    assert row["params/big"] == 2**40 + 3 and isinstance(row["params/big"], (int, np.integer))
    assert row["params/lr"] == 0.001
    assert row["params/opt"] == "adam"
    assert bool(row["params/flag"]) is False and isinstance(row["params/flag"], (bool, np.bool_))
    assert row["params/when"] == at(5.678)
    assert set(row["params/labels"]) == {"cat", "dog"}
    assert "params/absent" not in table.columns or row["params/absent"] is None
    assert row["sys/name"] == "exp-a"
    assert row["sys/creation_time"] == at(0)
    assert set(row["sys/tags"]) == {"vision", "baseline"} and set(row["sys/group_tags"]) == {"grp"}
    assert row["import/sys/owner"] == "alice"
    assert row["import/sys/modification_time"] == at(3600)
    assert details["run_id"] == ROOT


def test_v3_float_series_exact_steps_times_and_specials(
    v3: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    store, _ = v3
    with Reader(store) as reader:
        frame = reader.fetch_metrics(P3, [ROOT], ["train/loss"], include_time="absolute")
    steps = list(frame.index.get_level_values("step"))
    assert steps == [float(s) for s in STEPS]
    got = list(frame[("train/loss", "value")])
    assert got[0] == 0.25 and math.isnan(got[1]) and got[2] == math.inf and got[3] == -math.inf
    times = list(frame[("train/loss", "absolute_time")])
    assert [t.to_pydatetime() for t in times] == [at(i + 0.123) for i in range(len(STEPS))]


def test_v3_forks_are_forks_with_lineage(v3: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    store, _ = v3
    with Reader(store) as reader:
        grand = reader.fetch_metrics(P3, [GRAND], ["train/loss"], lineage_to_the_root=True)
        orphan = reader.run_details(P3, ORPHAN)
        child = reader.run_details(P3, CHILD)
        table = reader.fetch_runs_table(P3, [ORPHAN], attributes=["sys/forking/requested_parent"])
    steps = list(grand.index.get_level_values("step"))
    # root up to 2, child after 2 up to 4.75, grandchild after 4.75
    expected = [s for s in STEPS if s <= 2] + CHILD_STEPS + GRAND_STEPS
    assert steps == [float(s) for s in expected]
    assert (child["lineage"]["parent"], child["lineage"]["fork_step"]) == (ROOT, 2.0)
    assert orphan["lineage"]["parent"] is None
    assert orphan["lineage"]["requested_parent"] == f"{P3}/gone"
    assert table.loc[ORPHAN, "sys/forking/requested_parent"] == f"{P3}/gone"
    assert orphan["run_id"] == ORPHAN


def test_v3_string_histogram_and_file_series(
    v3: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    store, _ = v3
    with Reader(store) as reader:
        logs = reader.fetch_series(P3, [ROOT], ["logs/out"])
        hists = reader.fetch_series(P3, [ROOT], ["hist/w", "hist/d"])
        files = reader.download_files(P3, [ROOT], ["model/ckpt", "images/x"], tmp_path)
    assert list(logs["logs/out"]) == ["hello", "world"]
    assert list(logs.index.get_level_values("step")) == [1.0, 1.5]
    w = hists["hist/w"].dropna().iloc[0]
    d = hists["hist/d"].dropna().iloc[0]
    assert w["type"] == "COUNTING" and list(w["values"]) == [3, 4] and list(w["edges"]) == [0, 1, 2]
    assert d["type"] == "DENSITY" and list(d["values"]) == [0.25, 0.75]
    by_attr = {
        (r.attribute, None if math.isnan(r.step) else r.step): r.path for r in files.itertuples()
    }
    assert Path(by_attr[("model/ckpt", None)]).read_bytes() == CKPT
    assert [Path(by_attr[("images/x", float(i))]).read_bytes() for i in range(2)] == IMAGE


def test_v2_short_ids_file_sets_artifacts_and_untimed_file_series(tmp_path: Path) -> None:
    export = build_v2(tmp_path)
    store = tmp_path / "store"
    result = despina_import(str(export.data), "--files", str(export.files), "--store", str(store))
    assert result.returncode == 0, result.stdout + result.stderr
    with Reader(store) as reader:
        assert reader.list_runs(P2) == [SAN]
        table = reader.fetch_runs_table(P2, [SAN], attributes=r".")
        files = reader.download_files(P2, [SAN], r"^(data/set/|art$|frames$)", tmp_path / "out")
        acc = reader.fetch_metrics(P2, [SAN], ["metrics/acc"])
    assert table.loc[SAN, "parameters/epochs"] == 7
    assert table.loc[SAN, "import/sys/id"] == SAN
    assert table.loc[SAN, "sys/name"] == "legacy-run"
    assert list(acc["metrics/acc"]) == [0.5, 0.75]
    got = {
        r.attribute + ("" if math.isnan(r.step) else f"@{r.step:g}"): Path(r.path).read_bytes()
        for r in files.itertuples()
    }
    assert got == {
        "data/set/a.txt": FILESET["a.txt"], "data/set/sub/b.bin": FILESET["sub/b.bin"],
        "art": ARTIFACT_JSON, "frames@0": IMAGE[0], "frames@1": IMAGE[1],
    }  # fmt: skip


def test_second_import_adds_nothing(
    v3: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    store, _ = v3
    with Reader(store) as reader:
        before = reader.fetch_metrics(P3, None, None, lineage_to_the_root=False)
    data = store.parent / "data"
    again = despina_import(str(data), "--files", str(store.parent / "files"), "--store", str(store))
    assert "already imported" in again.stdout, again.stdout
    with Reader(store) as reader:
        after = reader.fetch_metrics(P3, None, None, lineage_to_the_root=False)
    assert before.equals(after)


def test_without_files_they_are_reported_skipped(tmp_path: Path) -> None:
    export = build_v2(tmp_path)
    result = despina_import(str(export.data), "--store", str(tmp_path / "s"))
    assert result.returncode == 1
    assert "file values skipped (no --files)" in result.stdout


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    export = build_v3(tmp_path)
    store = tmp_path / "store"
    result = despina_import(
        str(export.data), "--files", str(export.files), "--store", str(store), "--dry-run"
    )
    assert "would import" in result.stdout and "float_series" in result.stdout
    assert not store.exists()
    assert not (export.data / ".despina-import").exists()


def _same_result(location: str, env: dict[str, str] | None, tmp_path: Path) -> None:
    export = build_v3(tmp_path / "export")
    files = str(export.files)
    result = despina_import(str(export.data), "--files", files, "--store", location, env=env)
    assert "4 imported, 1 interrupted export" in result.stdout, result.stdout + result.stderr
    with Reader(location) as reader:
        grand = reader.fetch_metrics(P3, [GRAND], ["train/loss"])
        table = reader.fetch_runs_table(P3, [ROOT], attributes=["params/big"])
    expected = [s for s in STEPS if s <= 2] + CHILD_STEPS + GRAND_STEPS
    assert list(grand.index.get_level_values("step")) == [float(s) for s in expected]
    assert table.loc[ROOT, "params/big"] == 2**40 + 3


def test_a_store_url_location_is_kept_as_given(tmp_path: Path) -> None:
    _same_result(f"sqlite:///{tmp_path / 'by-url'}", None, tmp_path)


@pytest.mark.postgres
def test_import_into_postgresql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from support.scratch_postgres import scratch_postgres_database

    files = str(tmp_path / "pg-files")
    monkeypatch.setenv("DESPINA_FILES_DIR", files)  # the reader here; the child gets it below
    with scratch_postgres_database("despina_import") as url:
        _same_result(url, {"DESPINA_FILES_DIR": files}, tmp_path)


def test_a_target_made_anew_gets_the_runs_again(tmp_path: Path) -> None:
    """The progress record says a run is finished; the store at that place was deleted since."""
    import shutil

    export = build_v2(tmp_path)
    store = tmp_path / "store"
    args = (str(export.data), "--files", str(export.files), "--store", str(store))
    assert despina_import(*args).returncode == 0
    shutil.rmtree(store)
    again = despina_import(*args)
    assert again.returncode == 0 and "already imported" not in again.stdout, again.stdout
    with Reader(store) as reader:
        assert list(reader.fetch_metrics(P2, [SAN], ["metrics/acc"])["metrics/acc"]) == [0.5, 0.75]
