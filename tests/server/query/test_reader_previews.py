"""Previews and lineage caps in the read API, on a store written through ``Store.apply``."""

from __future__ import annotations

from pathlib import Path

from despina.query import Reader
from despina.store import open_store
from support.opbuild import PROJECT, T0, Snap, create, metrics, update


def test_previews_are_shown_only_when_asked(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.apply([create("a"), metrics("a", {"x": [1.0, 2.0]})])
        preview = Snap(step=5, ts=T0 + 5, append={"x": 0.5}, preview=True, completion=0.25)
        assert store.apply([update("a", preview)]) == [()]
        reader = Reader(store)
        plain = reader.fetch_metrics(PROJECT, ["a"], ["x"])
        assert list(plain.loc["a"].index) == [0.0, 1.0]
        full = reader.fetch_metrics(PROJECT, ["a"], ["x"], include_point_previews=True)
        rows = full.loc["a"]
        assert list(rows.index) == [0.0, 1.0, 5.0]
        assert list(rows[("x", "is_preview")]) == [False, False, True]
        assert rows[("x", "preview_completion")].iloc[2] == 0.25
        assert rows[("x", "preview_completion")].iloc[0] == 1.0  # committed: complete


def test_step_range_respects_fork_caps(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.apply([create("p"), metrics("p", {"x": range(100)})])
        store.apply(
            [create("c", fork="p", fork_step=10), metrics("c", {"x": [-1.0] * 5}, start=11)]
        )
        reader = Reader(store)
        frame = reader.fetch_metrics(PROJECT, ["c"], ["x"], step_range=(8, 12)).loc["c"]["x"]
        assert frame.to_dict() == {8.0: 8.0, 9.0: 9.0, 10.0: 10.0, 11.0: -1.0, 12.0: -1.0}
        buckets = reader.fetch_metric_buckets(PROJECT, ["c"], ["x"], limit=3)
        assert buckets["count"].sum() == 16 and buckets["max"].max() == 10.0
