"""The read API on data logged through the real client."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from despina.query import BUCKET_COLUMNS, Filter, Reader
from despina.store import ProjectNotFound, RunNotFound, StoreNotFound
from reader_data import FORK_STEP, PROJECT, STEPS, expected_fork_loss, loss


def test_listings(reader: Reader) -> None:
    assert reader.list_projects() == [PROJECT]
    assert reader.list_runs(PROJECT) == ["base", "fork", "grand", "other"]
    assert reader.list_runs(PROJECT, "^(base|other)$") == ["base", "other"]
    # base is no longer the head of exp-a: its fork is newer
    assert reader.list_experiments(PROJECT) == ["exp-a", "exp-b", "exp-c"]
    names = reader.list_attributes(PROJECT, ["base"])
    assert {"train/loss", "train/acc", "params/lr", "notes", "weights", "sys/id"} <= set(names)
    assert reader.attribute_types(
        PROJECT, ["base"], "^(train/loss|notes|weights|model/summary|params/lr)$"
    ) == {
        "model/summary": "file",
        "notes": "string_series",
        "params/lr": "float",
        "train/loss": "float_series",
        "weights": "histogram_series",
    }


def test_runs_table_values_and_order(reader: Reader) -> None:
    table = reader.fetch_runs_table(
        PROJECT, attributes=["sys/id", "params/lr", "train/loss", "sys/tags"]
    )
    assert list(table.index) == ["other", "grand", "fork", "base"]  # newest first
    assert list(table.columns) == ["sys/id", "params/lr", "train/loss", "sys/tags"]
    assert table.loc["base", "params/lr"] == 0.01 and table.loc["fork", "params/lr"] == 0.001
    assert table.loc["base", "train/loss"] == loss(STEPS - 1, "base")
    assert table.loc["grand", "train/loss"] == -1.0
    assert table.loc["base", "sys/tags"] == {"vision", "baseline"}
    assert table.loc["base", "sys/id"].endswith("-1")


def test_runs_table_regex_sort_and_heads(reader: Reader) -> None:
    table = reader.fetch_runs_table(
        PROJECT, attributes="^params/", sort_by="params/lr", sort_direction="asc"
    )
    assert list(table.columns) == ["params/layers", "params/lr", "params/opt"]
    assert list(table.index) == ["fork", "grand", "base", "other"]  # ties keep creation order
    heads = reader.fetch_runs_table(PROJECT, attributes=["sys/name"], heads_only=True)
    assert set(heads.index) == {"fork", "grand", "other"}


def test_inherited_configs_follow_inherit_flag(reader: Reader) -> None:
    table = reader.fetch_runs_table(PROJECT, attributes=["params/opt", "flag"])
    assert table.loc["fork", "params/opt"] == "adam"  # inherit_configs defaults to True
    assert table.loc["grand", "params/opt"] == "adam"


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (Filter.gt("params/lr", 0.005), {"base", "other"}),
        (Filter.tags("vision"), {"base", "other"}),
        (Filter.tags("vision", "baseline"), {"base"}),
        (Filter.name("exp-a"), {"base", "fork"}),
        (Filter.name("exp-a") & ~Filter.eq("params/lr", 0.01), {"fork"}),
        (
            Filter.eq("params/lr", 0.1) | Filter.contains_any("sys/group_tags", ["group-1"]),
            {"base", "other"},
        ),
        (Filter.exists("notes"), {"base", "fork", "grand"}),  # string series are inherited
        (Filter.lt("train/loss", 0), {"grand"}),
        (Filter.run_id("^gr"), {"grand"}),
    ],
)
def test_filters(reader: Reader, flt: Filter, expected: set[str]) -> None:
    assert set(reader.list_runs(PROJECT, flt)) == expected


def test_fetch_metrics_with_lineage(reader: Reader) -> None:
    frame = reader.fetch_metrics(PROJECT, ["fork"], ["train/loss"])
    assert list(frame.index.names) == ["run", "step"]
    got = list(zip(frame.loc["fork"].index, frame.loc["fork"]["train/loss"], strict=True))
    assert got == expected_fork_loss()
    own = reader.fetch_metrics(PROJECT, ["fork"], ["train/loss"], lineage_to_the_root=False)
    assert own.loc["fork"].index[0] == FORK_STEP + 1


def test_fetch_metrics_three_levels(reader: Reader) -> None:
    frame = reader.fetch_metrics(PROJECT, ["grand"], "loss$").loc["grand"]["train/loss"]
    assert frame.index[0] == 0 and frame.index[-1] == 99
    assert frame[60] == loss(60, "base") and frame[61] == loss(61, "fork") / 2
    assert frame[90] == loss(90, "fork") / 2 and frame[91] == -1.0
    assert len(frame) == 100


def test_fetch_metrics_range_tail_time_and_wide_columns(reader: Reader) -> None:
    frame = reader.fetch_metrics(
        PROJECT,
        ["base", "other"],
        ["train/loss", "train/acc"],
        step_range=(5, 20),
        tail_limit=3,
        include_time="absolute",
    )
    assert list(frame.loc["base"].index) == [18.0, 19.0, 20.0]
    assert list(frame.loc["other"].index) == [7.0, 8.0, 9.0]
    assert ("train/loss", "absolute_time") in frame.columns
    assert isinstance(frame[("train/loss", "absolute_time")].iloc[0], pd.Timestamp)
    assert math.isnan(frame.loc[("other", 9.0), ("train/acc", "value")])  # other has no acc


def test_fetch_series_strings_and_histograms(reader: Reader) -> None:
    frame = reader.fetch_series(PROJECT, ["base"], ["notes", "weights"])
    assert (
        frame.loc[("base", 1.0), "notes"] == "first"
        and frame.loc[("base", 2.0), "notes"] == "second"
    )
    hist = frame.loc[("base", 5.0), "weights"]
    assert hist == {"type": "COUNTING", "edges": [0.0, 1.0, 2.0], "values": [3, 4]}
    inherited = reader.fetch_series(PROJECT, ["fork"], ["notes"])
    assert list(inherited["notes"]) == ["first", "second"]


def test_buckets_match_brute_force(reader: Reader) -> None:
    frame = reader.fetch_metric_buckets(PROJECT, ["fork"], ["train/loss"], limit=7)
    assert list(frame.columns) == BUCKET_COLUMNS and len(frame) == 7
    points = np.array(expected_fork_loss())
    edges = np.linspace(0, STEPS - 1, 8)
    for _, row in frame.iterrows():
        last_bucket = row["bucket"] == 6
        inside = (points[:, 0] >= row["from_step"]) & (
            (points[:, 0] <= row["to_step"]) if last_bucket else (points[:, 0] < row["to_step"])
        )
        sel = points[inside]
        assert row["from_step"] == pytest.approx(edges[int(row["bucket"])])
        assert row["count"] == len(sel)
        assert row["min"] == sel[:, 1].min() and row["max"] == sel[:, 1].max()
        assert (row["first_step"], row["first_value"]) == tuple(sel[0])
        assert (row["last_step"], row["last_value"]) == tuple(sel[-1])
        assert row["sum"] == pytest.approx(sel[:, 1].sum())


def test_run_details(reader: Reader) -> None:
    details = reader.run_details(PROJECT, "fork")
    assert details["run_id"] == "fork" and details["experiment"] == "exp-a" and details["is_head"]
    assert details["configs"]["params/lr"] == 0.001 and details["configs"]["params/opt"] == "adam"
    assert details["tags"] == [] and isinstance(details["creation_time"], dt.datetime)
    assert details["lineage"] == {
        "parent": "base",
        "fork_step": 60.0,
        "requested_parent": f"{PROJECT}/base",
        "ancestors": ["base"],
        "children": ["grand"],
        "depth": 1,
    }
    assert details["last_values"]["train/loss"] == loss(STEPS - 1, "fork") / 2
    assert details["series"]["train/loss"]["count"] == STEPS - FORK_STEP - 1
    assert (
        details["series"]["train/acc"]["inherited"]
        and details["last_values"]["train/acc"] == FORK_STEP / STEPS
    )
    base = reader.run_details(PROJECT, details["lineage"]["ancestors"][0])
    assert base["tags"] == ["baseline", "vision"] and base["group_tags"] == ["group-1"]
    assert base["configs"]["model/summary"]["mime_type"] == "text/plain"
    by_short_id = reader.run_details(PROJECT, base["sys_id"])
    assert by_short_id["run_id"] == "base"


def test_download_files(reader: Reader, tmp_path: Path) -> None:
    frame = reader.download_files(PROJECT, ["base"], ["model/summary"], tmp_path)
    (path,) = frame["path"]
    assert Path(path).read_bytes() == b"layers: 3\n"


def test_errors(reader: Reader, tmp_path: Path) -> None:
    with pytest.raises(RunNotFound, match="nobody"):
        reader.run_details(PROJECT, "nobody")
    with pytest.raises(ProjectNotFound, match="team/vision"):
        reader.list_runs("no/such")
    with pytest.raises(StoreNotFound):
        Reader(tmp_path / "absent")
    assert not (tmp_path / "absent").exists()
